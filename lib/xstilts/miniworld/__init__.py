"""The miniature world (docs/miniworld.md): an English-like source language whose grammar knows every
label, derived languages of graded distance, every benchmark and intermediate task in its hub schema,
and a monolingual pretraining corpus. Entry points: `build.build_world(cfg, out_dir)`,
`build.load_world(out_dir)`; the parameters and their checks: `world_config`."""
