-- Tables the pipeline writes before dbt runs: reference data, the raw layer, quality records.
-- Idempotent: run at the start of every run. dbt owns the schemas `staging`, `intermediate`, `marts`.
create schema if not exists ref;
create schema if not exists raw;
create schema if not exists quality;

-- Reference data -------------------------------------------------------------------------
create table if not exists ref.agencies (
    agency_code  text primary key,
    agency_name  text not null,
    agency_type  text not null,
    sk_number    text,
    sk_date      date,
    admin_email  text,
    source       text not null default 'folder',
    source_url   text
);

-- Secrets the models need, written once: `reporter_salt` makes `fct_complaints.reporter_key`
-- a salted hash, so analysts can count repeat reporters without seeing who they are.
create table if not exists ref.secrets (
    name   text primary key,
    value  text not null
);
insert into ref.secrets (name, value)
values ('reporter_salt', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
on conflict (name) do nothing;

-- Every day 2019-2030: weekends, national holidays and cuti bersama (PyPI `holidays`).
-- Whether cuti bersama is a working day is policy, applied in dbt (`dim_date`).
create table if not exists ref.calendar (
    day                date primary key,
    is_weekend         boolean not null,
    is_public_holiday  boolean not null,
    is_cuti_bersama    boolean not null,
    holiday_name       text
);

-- The runs that have happened: marts are built up to the latest of them.
create table if not exists raw.pipeline_runs (
    run_date     date primary key,
    started_at   timestamptz not null default now()
);

-- Landing zone: every file received, kept unchanged under LAPOR_HOME/landing --------------
create table if not exists raw.landed_files (
    agency_code        text not null,
    kind               text not null check (kind in ('complaints', 'followup')),
    file               text not null,          -- relative to the drop folder
    sha256             text not null,
    size_bytes         bigint not null,
    file_day           date not null,          -- export day, or submission day of a follow-up report
    period             date,                   -- follow-up month (first day)
    landed_path        text not null,          -- relative to LAPOR_HOME/landing
    source             text not null,
    first_run_date     date not null,
    primary key (file, sha256)
);
-- "did agency A's export of day D arrive": intermediate.int_agency_deliveries_daily asks it per agency.
create index if not exists landed_files_day_idx on raw.landed_files (agency_code, kind, file_day);

-- Raw layer: one batch per agency and export day, replaced whole in one transaction --------
create table if not exists raw.complaint_batches (
    agency_code    text not null,
    export_day     date not null,
    file           text not null,
    sha256         text not null,
    status         text not null check (status in ('loaded', 'rejected')),
    rows_loaded    integer not null,
    rows_rejected  integer not null,
    run_date       date not null,
    primary key (agency_code, export_day)
);

create table if not exists raw.complaints (
    agency_code        text not null,
    export_day         date not null,
    file               text not null,
    line               integer not null,
    tracking_id        text not null,
    status             text not null,
    status_text        text,
    submitted_at       timestamptz not null,
    dispositioned_at   timestamptz,
    first_followup_at  timestamptz,
    closed_at          timestamptz,
    last_activity_at   timestamptz,
    title              text,
    content            text,
    category           text,
    classification     text,
    channel            text,
    is_confidential    boolean,
    is_anonymous       boolean,
    is_supervisory     boolean,
    reporter_name      text,
    reporter_phone     text,
    reporter_email     text,
    extra              jsonb,      -- unknown columns, as read
    original           jsonb       -- the whole row as read (text), only where typing lost a non-blank cell (else null)
);
create index if not exists complaints_batch_idx on raw.complaints (agency_code, export_day);
create index if not exists complaints_tracking_idx on raw.complaints (tracking_id, export_day);

-- One row per follow-up report file received (an empty report counts as submitted).
create table if not exists raw.followup_reports (
    agency_code    text not null,
    period         date not null,
    submitted_on   date not null,
    file           text not null,
    sha256         text not null,
    status         text not null check (status in ('loaded', 'rejected')),
    rows_loaded    integer not null,
    rows_rejected  integer not null,
    run_date       date not null,
    primary key (agency_code, period, submitted_on)
);

create table if not exists raw.followup_rows (
    agency_code    text not null,
    period         date not null,
    submitted_on   date not null,
    file           text not null,
    line           integer not null,
    tracking_id    text not null,
    followup_at    timestamptz not null,
    action         text,
    result_status  text,
    officer        text,
    extra          jsonb,
    original       jsonb
);
create index if not exists followup_rows_batch_idx on raw.followup_rows (agency_code, period, submitted_on);
create index if not exists followup_rows_tracking_idx on raw.followup_rows (tracking_id);

-- Quality records ---------------------------------------------------------------------------
create table if not exists quality.rejected_files (
    run_date     date not null,
    agency_code  text not null,
    file         text not null,
    sha256       text not null,
    reason_code  text not null,
    reason       text not null,
    kind         text not null,
    file_day     date not null
);
create index if not exists rejected_files_batch_idx on quality.rejected_files (agency_code, kind, file_day);

create table if not exists quality.rejected_rows (
    run_date     date not null,
    agency_code  text not null,
    file         text not null,
    line         integer not null,
    tracking_id  text,
    reason_code  text not null,
    reason       text not null,
    original     jsonb not null,
    kind         text not null,
    file_day     date not null
);
create index if not exists rejected_rows_batch_idx on quality.rejected_rows (agency_code, kind, file_day);

-- A source (an HTTP export API) that still failed after its retries, per run and agency.
create table if not exists quality.source_failures (
    run_date     date not null,
    agency_code  text not null,
    source       text not null,
    error        text not null,
    primary key (run_date, agency_code)
);

create table if not exists quality.check_results (
    run_date     date not null,
    check_name   text not null,
    agency_code  text not null,
    passed       boolean not null,
    severity     text not null,
    details      text not null,
    facts        jsonb not null default '{}'::jsonb,   -- the figures behind details, for e-mails and the report
    primary key (run_date, check_name, agency_code)
);

-- Every alert e-mail sent (or written to the outbox), so a re-run never sends it twice.
create table if not exists quality.alerts_sent (
    idempotency_key  text primary key,
    run_date         date not null,
    recipient        text not null,
    agency_code      text,
    subject          text not null,
    transport        text not null,
    sent_at          timestamptz not null default now()
);

-- The warehouse's own data-quality suites (expectations/*.json other than the coordinator's).
create table if not exists quality.suite_results (
    run_date     date not null,
    suite        text not null,
    expectation  text not null,
    target       text not null,
    success      boolean not null,
    result       jsonb not null
);
create index if not exists suite_results_run_idx on quality.suite_results (run_date);

-- Which finding was told to whom on which run, as the alerts kept it before findings had a life;
-- no longer written (quality.finding_notices is), kept for the history of an existing warehouse.
create table if not exists quality.alert_findings (
    recipient        text not null,
    agency_code      text not null,
    check_name       text not null,
    fingerprint      text not null,
    run_date         date not null,
    idempotency_key  text not null,
    primary key (recipient, check_name, fingerprint, run_date)
);

-- Columns added after the first release: an existing warehouse gets them here.
alter table quality.check_results add column if not exists facts jsonb not null default '{}'::jsonb;

-- Change tracking for the incremental dbt models (dbt_project/models/intermediate/
-- int_build_window.sql). Every write of a batch row (complaints or follow-up report) takes
-- the next raw.load_seq, and every statement that deletes raw rows (a batch replaced by a
-- corrected file) records the tracking ids it took away, so a dbt run can rebuild exactly
-- the complaints loaded or changed since the last successful build. The writer takes a
-- shared advisory lock before it draws a number; dbt takes the same lock exclusively before
-- it reads the highest number, so it never skips a load that was still committing.
create sequence if not exists raw.load_seq;
alter table raw.complaint_batches add column if not exists load_seq bigint;
alter table raw.followup_reports add column if not exists load_seq bigint;

create table if not exists raw.retracted_complaints (
    tracking_id  text not null,
    load_seq     bigint not null,
    retracted_at timestamptz not null default now()
);
create index if not exists retracted_complaints_seq_idx on raw.retracted_complaints (load_seq);

create or replace function raw.next_load_seq() returns bigint
language plpgsql volatile as $fn$
begin
    perform pg_advisory_xact_lock_shared(727002);
    return nextval('raw.load_seq');
end
$fn$;

create or replace function raw.stamp_load_seq() returns trigger
language plpgsql as $fn$
begin
    new.load_seq := raw.next_load_seq();
    return new;
end
$fn$;

create or replace function raw.record_retracted() returns trigger
language plpgsql as $fn$
begin
    insert into raw.retracted_complaints (tracking_id, load_seq)
    select distinct gone.tracking_id, stamp.seq
    from gone, (select raw.next_load_seq() as seq) as stamp;
    return null;
end
$fn$;

create or replace trigger complaint_batches_load_seq
    before insert or update on raw.complaint_batches
    for each row execute function raw.stamp_load_seq();
create or replace trigger followup_reports_load_seq
    before insert or update on raw.followup_reports
    for each row execute function raw.stamp_load_seq();
create or replace trigger complaints_retracted
    after delete on raw.complaints
    referencing old table as gone
    for each statement execute function raw.record_retracted();
create or replace trigger followup_rows_retracted
    after delete on raw.followup_rows
    referencing old table as gone
    for each statement execute function raw.record_retracted();

-- Hostile input and failures (README "What happens to bad input") ---------------------------
-- A file that was never read (a symlink, not a regular file, over LAPOR_MAX_FILE_MB, or one
-- whose landing failed) is rejected without a checksum: nothing of it was kept.
alter table quality.rejected_files alter column sha256 drop not null;
alter table raw.complaint_batches alter column sha256 drop not null;

-- Each agency's ingestion of a run date: `prepare` sets every registered agency `pending`,
-- the agency's task `running` then `done` (or `failed`, with the error). The check
-- `ingest_failed` flags every agency whose ingestion of the date did not end `done`.
create table if not exists quality.ingest_runs (
    run_date     date not null,
    agency_code  text not null,
    status       text not null check (status in ('pending', 'running', 'done', 'failed')),
    started_at   timestamptz,
    finished_at  timestamptz,
    error        text,
    primary key (run_date, agency_code)
);

-- What was read with a doubt (a UTF-8 file with stray cp1252 bytes) or not read at all and
-- should be looked at (a misnamed file, a folder that is no agency's): one row per run.
create table if not exists quality.input_warnings (
    run_date     date not null,
    agency_code  text,
    file         text not null,          -- relative to the drop folder, control characters escaped
    kind         text,                   -- complaints | followup, for a file the loader read
    file_day     date,
    reason_code  text not null,
    reason       text not null,
    noted_at     timestamptz not null default now()
);
create index if not exists input_warnings_run_idx on quality.input_warnings (run_date);

-- Alert e-mails that could not be sent (a recipient refused, a bad address, the server down):
-- one row per failed attempt. The alert task sends every other message, then fails naming these
-- recipients; a retry sends only what is not in quality.alerts_sent. The failures of a night whose
-- message to that agency (or the digest) has not gone out since:
--   select * from quality.alerts_failed f
--   where not exists (select 1 from quality.alerts_sent s
--                     where s.run_date = f.run_date and s.agency_code is not distinct from f.agency_code)
create table if not exists quality.alerts_failed (
    run_date         date not null,
    recipient        text not null,
    agency_code      text,
    subject          text not null,
    error            text not null,
    idempotency_key  text not null,
    failed_at        timestamptz not null default now()
);
create index if not exists alerts_failed_run_idx on quality.alerts_failed (run_date);

-- How far the last night of each run date got (lapor.run_status): `prepare` starts an attempt,
-- `transform` marks the dbt build started and then built, or records why it failed. When D's
-- attempt was not prepared, or its build started and did not finish, D's marts are incomplete:
-- check, alert and report then send the coordinator one "run incomplete" notice (key: D and
-- started_at), agencies nothing, and the report carries a banner.
create table if not exists quality.run_status (
    run_date          date primary key,
    started_at        timestamptz not null,   -- the attempt began (prepare): its identity
    prepared_at       timestamptz,            -- prepare finished
    build_started_at  timestamptz,            -- transform began the dbt build
    built_at          timestamptz,            -- the dbt build finished without an error
    failed_step       text,                   -- prepare | transform, when it could record why
    error             text
);

-- The seeds (dbt_project/seeds/: the vocabulary, the checks, the severities) as the last nightly
-- build that loaded them had them: lapor.transform.seeds_fingerprint() of the files, one row.
-- A night whose fingerprint equals it and finds every seed table leaves the seeds and their
-- own tests out of `dbt build` (the files did not change, so neither would the tables); a
-- changed file, a missing seed table or an empty table here loads them all again.
create table if not exists quality.seeds_loaded (
    fingerprint  text not null,
    loaded_at    timestamptz not null default now()
);

-- Findings with a life (docs/checks.md, "The life of a finding") ---------------------------
-- The agency head's address (registry column head_email, optional): in copy of an escalation.
alter table ref.agencies add column if not exists head_email text;

-- What each mail about a finding told, one row per finding and notice, written in the same
-- transaction as the message's claim in quality.alerts_sent (lapor.alerts.send.deliver): a
-- notice in this table is never composed again, whichever run date is re-run.
--   kind: opened | reminder (seq 1, 2, ...; escalated once seq passes
--         LAPOR_ESCALATION_AFTER_REMINDERS) | resolved | weekly (seq = ISO year * 100 + week)
create table if not exists quality.finding_notices (
    finding_id       text not null,
    kind             text not null check (kind in ('opened', 'reminder', 'resolved', 'weekly')),
    seq              integer not null default 0,
    escalated        boolean not null default false,
    run_date         date not null,
    recipient        text not null,
    idempotency_key  text not null,
    primary key (finding_id, kind, seq)
);

-- One row per finding: a check flagging the same subject of an agency on consecutive runs of
-- that check. Derived from quality.check_results alone, so re-running a date changes nothing
-- twice: the run dates of a check are the dates it ran (an `error` row is no run); for the two
-- export checks a weekend or holiday run that flags nothing is no run either (no export is
-- due). The subject is what the finding is about: the columns `subject` and `subject_label` of
-- dbt_project/seeds/coordinator_checks.csv (docs/checks.md, "The life of a finding"), written
-- into `check_subjects` below by lapor.warehouse.ensure_schema (lapor.vocabulary.checks()); a
-- subject with {month} is one finding per month of the facts' months (`report:2021-04`,
-- `Laporan April 2021`); a check with no subject of its own in the seed has the subject `check`.
-- followup_report_late is no finding of its own: it is how a followup_report_missing finding
-- ends (its facts say when the report came and how late). A finding resolves on the next run of
-- its check that does not flag its subject; flagged again later, it is a new finding.
create or replace view quality.findings as
with
check_subjects (check_name, subject, subject_label) as (
    /*check_subjects*/
),
runs as (
    select r.check_name, r.run_date,
           row_number() over (partition by r.check_name order by r.run_date) as run_no
    from quality.check_results r
    left join ref.calendar c on c.day = r.run_date
    where r.severity <> 'error' and r.check_name <> 'followup_report_late'
    group by r.check_name, r.run_date, c.is_weekend, c.is_public_holiday, c.is_cuti_bersama
    having r.check_name not in ('export_missing', 'export_unreadable')
        or not (coalesce(c.is_weekend, false) or coalesce(c.is_public_holiday, false)
                or coalesce(c.is_cuti_bersama, false))
        or bool_or(not r.passed)
),
flagged as (
    select r.check_name, r.agency_code, s.subject, s.subject_label, r.run_date, n.run_no, r.severity,
           r.details, r.facts
    from quality.check_results r
    join runs n on n.check_name = r.check_name and n.run_date = r.run_date
    cross join lateral (
        select replace(v.subject, '{month}', left(m ->> 'period', 7)) as subject,
               replace(v.subject_label, '{month_label}', m ->> 'label') as subject_label
        from check_subjects v
        cross join lateral jsonb_array_elements(coalesce(r.facts -> 'months', '[]'::jsonb)) m
        where v.check_name = r.check_name and strpos(v.subject, '{month}') > 0
        union all
        select v.subject, v.subject_label
        from check_subjects v
        where v.check_name = r.check_name and strpos(v.subject, '{month}') = 0
        union all
        select 'check', r.check_name
        where not exists (select from check_subjects v where v.check_name = r.check_name)
    ) s
    where not r.passed
),
islands as (
    select *, run_no - row_number() over (partition by check_name, agency_code, subject order by run_no) as island
    from flagged
),
lives as (
    select check_name, agency_code, subject, min(subject_label) as subject_label,
           min(run_date) as opened_on, max(run_date) as last_seen_on, max(run_no) as last_run_no,
           count(*)::integer as runs_flagged,
           -- what the last run said: its row of check_results, carried here rather than joined
           -- again. Joined on three columns, the findings were estimated at one row whatever
           -- their number, and every reader joined them by nested loop (at national scale,
           -- 11,200 findings: minutes for a BI tool's count of marts.fct_finding_events)
           (array_agg(severity order by run_date desc))[1] as severity,
           (array_agg(details order by run_date desc))[1] as details,
           (array_agg(facts order by run_date desc))[1] as facts
    from islands
    group by check_name, agency_code, subject, island
)
select
    md5(concat_ws('|', l.check_name, l.agency_code, l.subject, l.opened_on)) as finding_id,
    l.agency_code, l.check_name, l.subject, l.subject_label,
    l.opened_on, l.last_seen_on, next_run.run_date as resolved_on, l.runs_flagged,
    l.severity, l.details, l.facts
from lives l
left join runs next_run on next_run.check_name = l.check_name and next_run.run_no = l.last_run_no + 1;
