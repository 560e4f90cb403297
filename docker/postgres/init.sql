-- One PostgreSQL 16 server, three databases, one owner role each, and the BI role:
--   airflow   Airflow's metadata (and the Celery result backend)   owner airflow
--   lapor     the warehouse: raw, ref, quality, marts              owner lapor
--   superset  Superset's own application database                  owner superset
--   bi_reader read-only on marts (the pipeline grants it on every run), nothing else
--
-- Run by docker/postgres/initdb.sh when the postgres volume is first created, with the
-- passwords from .env as psql variables. Safe to run again (every statement checks or
-- overwrites): rotating a database password is re-running it, see docs/operations.md.
\set ON_ERROR_STOP on

select format('create role %I login', name)
  from (values ('airflow'), ('lapor'), ('bi_reader'), ('superset')) as roles(name)
 where not exists (select from pg_roles where rolname = name)
\gexec

alter role airflow with login password :'airflow_password';
alter role superset with login password :'superset_password';
alter role bi_reader with login password :'bi_password';
-- The warehouse owner keeps bi_reader's password in step with LAPOR_BI_PASSWORD on every run
-- (lapor.warehouse.ensure_schema): PostgreSQL 16 allows that to a CREATEROLE role holding
-- bi_reader WITH ADMIN OPTION, and to no other non-superuser.
alter role lapor with login createrole password :'lapor_password';
grant bi_reader to lapor with admin option;

select format('create database %I owner %I', name, owner)
  from (values ('airflow', 'airflow'), ('lapor', 'lapor'), ('superset', 'superset')) as dbs(name, owner)
 where not exists (select from pg_database where datname = name)
\gexec

-- Each role reaches its own database; bi_reader the warehouse only.
revoke connect on database airflow from public;
revoke connect on database superset from public;
revoke connect on database lapor from public;
grant connect on database airflow to airflow;
grant connect on database superset to superset;
grant connect on database lapor to lapor, bi_reader;
-- Temporary tables: the pipeline only (its loader stages each export in one), never bi_reader.
-- The pipeline sets bi_reader's statement_timeout itself (LAPOR_BI_STATEMENT_TIMEOUT).
revoke temporary on database lapor from public;
grant temporary on database lapor to lapor;
