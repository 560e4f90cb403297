# Superset for LAPOR! Jatim: the release tests/test_superset.py tests (SUPERSET_VERSION there),
# plus the PostgreSQL driver its images leave out (Superset's own metadata database and the
# warehouse are both PostgreSQL). The same psycopg2-binary as the test's pins.
FROM apache/superset:6.1.0

USER root
RUN . /app/.venv/bin/activate && uv pip install --no-cache psycopg2-binary==2.9.13
USER superset
