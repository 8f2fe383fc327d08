"""Coverage-guided fuzzing of the device protocol (atheris)."""
