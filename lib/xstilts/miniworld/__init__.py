"""The miniature world (docs/miniworld.md): an English-like source language whose grammar knows every
label, derived languages of graded distance, every benchmark and intermediate task in its hub schema,
and a monolingual pretraining corpus. Entry points: `build_world(cfg, out_dir)`, `load_world(out_dir)`."""

from .build import (BENCHMARK_TASKS, DEFAULT_LANGUAGES, DEFAULT_TASK_LANGUAGES, DEFAULT_WORLD, GENERATOR_VERSION,
                    SIZE_PRESETS, build_world, load_world, planned_languages, resolve_config, world_task)

__all__ = ["BENCHMARK_TASKS", "DEFAULT_LANGUAGES", "DEFAULT_TASK_LANGUAGES", "DEFAULT_WORLD", "GENERATOR_VERSION",
           "SIZE_PRESETS", "build_world", "load_world", "planned_languages", "resolve_config", "world_task"]
