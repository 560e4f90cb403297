# The image of every Airflow service in docker-compose.yml (api-server, scheduler,
# dag-processor, triggerer, Celery workers, init): the official Airflow image of the pinned
# version, with the project's locked requirements and the project itself.
# Build context: the project root (`docker compose build`, or
#   docker build -f docker/airflow.Dockerfile -t lapor-jatim/airflow:0.1.0 .).
FROM apache/airflow:3.3.2-python3.11

# The project's folder, and the mount points of the named volumes, owned by the airflow user:
# Docker gives a new named volume the owner of the folder it is mounted on.
USER root
RUN mkdir -p /opt/lapor /opt/lapor-home /opt/lapor-exports /opt/airflow/auth \
 && chown airflow:0 /opt/lapor /opt/lapor-home /opt/lapor-exports /opt/airflow/auth \
 && chmod 0700 /opt/airflow/auth
USER airflow

# The locked requirements first, so a code change does not reinstall them. apache-airflow is
# named with its version (as the image's docs advise) so pip cannot move Airflow itself.
COPY --chown=airflow:0 requirements.txt /opt/lapor/requirements.txt
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /opt/lapor/requirements.txt

# The project at /opt/lapor, installed editable: `lapor` finds dags/, dbt_project/ and
# expectations/ beside its package (lapor.settings.PROJECT_ROOT), and the `lapor` command is
# on PATH for `docker compose exec airflow-worker lapor ...`.
COPY --chown=airflow:0 pyproject.toml README.md /opt/lapor/
COPY --chown=airflow:0 plugins /opt/lapor/plugins
COPY --chown=airflow:0 dags /opt/lapor/dags
COPY --chown=airflow:0 dbt_project /opt/lapor/dbt_project
COPY --chown=airflow:0 expectations /opt/lapor/expectations
COPY --chown=airflow:0 docker/airflow-init.sh /opt/lapor/docker/airflow-init.sh
RUN pip install --no-cache-dir --no-deps -e /opt/lapor

ENV LAPOR_HOME=/opt/lapor-home \
    LAPOR_EXPORTS_DIR=/opt/lapor-exports \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/lapor/dags
