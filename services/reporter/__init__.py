"""The reporter: PDF health reports, CSV and FHIR exports, over MQTT or the command line."""
