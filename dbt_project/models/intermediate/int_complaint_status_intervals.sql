-- The status history (docs/domain.md, "Lifecycle and statuses") as intervals: a
-- complaint has `status` on every day valid_from <= day < valid_to (valid_to null = it still
-- has it at the horizon). Built in int_complaint_status_intervals__changed; incremental
-- here: a run replaces the rows of the complaints in int_changed_complaints.
-- depends_on: {{ ref('int_changed_complaints') }}
-- int_agency_backlog_changes compares these rows with the new ones before they are replaced:
-- depends_on: {{ ref('int_agency_backlog_changes') }}
{{ config(
    materialized='incremental',
    tags=['incremental'],
    meta={'test_scope': 'changed_complaints'},
    incremental_strategy='append',
    indexes=[
        {'columns': ['tracking_id', 'valid_from'], 'unique': True},
        {'columns': ['agency_code', 'valid_to']},
    ],
    pre_hook="{{ delete_changed_complaints() }}",
) }}
with

changed as (
    select * from {{ ref('int_complaint_status_intervals__changed') }}
)

select
    tracking_id,
    agency_code,
    submitted_on,
    status,
    is_open,
    valid_from,
    valid_to,
    derived_from
from changed
