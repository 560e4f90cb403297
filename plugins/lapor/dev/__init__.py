"""Tools for developing and demonstrating the pipeline, not part of it.

- `lapor.dev.generate`: the one generator of sample drop folders, at a scale (the demo's
  38 agencies with their habits, or the benchmark's tiny … national);
- `lapor.dev.bench`: `lapor bench`, the timing of every stage at a scale;
- `lapor.dev.export_server`: a sample export API serving a drop folder over HTTP.

Nothing the DAG imports imports this package (tests/test_architecture.py): only the CLI's
`demo`, `generate-sample` and `bench` commands import it, inside the command.
"""
