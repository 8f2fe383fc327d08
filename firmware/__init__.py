"""Firmware for the three ESP32 boards (smartcab/, boards/) and its host simulator (sim/)."""
