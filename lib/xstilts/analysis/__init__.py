"""Statistics of the study (docs/statistics.md): per-example cells, estimands, the calibrated joint
bootstrap, tests and multiplicity, simulation and calibration."""
