-- The coordinator's checks of every night, for the BI dashboards (bi/superset): one row per
-- run date, check and agency, as plugins/lapor/quality/checks.py records them in
-- quality.check_results. A view, because the checks run after `dbt build`: a table would show
-- the night before. bi_reader reads it (the marts' grant) without any right on `quality`.
--
-- The explanation is rebuilt in Bahasa Indonesia from the figures of each finding (facts),
-- never copied from `details`: a rejected file's reason may quote a cell of that file, and the
-- facts of followup_overdue carry complaint titles; neither belongs in the marts.
{{ config(materialized='view') }}

select
    r.run_date,
    r.check_name,
    {{ check_label('r.check_name') }} as check_label,
    r.agency_code,
    r.passed,
    r.severity,
    {{ severity_label('r.severity') }} as severity_label,
    {{ severity_order('r.severity') }}::integer as severity_order,
    case
        when r.passed then null
        when r.severity = 'error' then 'Pemeriksaan tidak dapat dijalankan; lihat log malam itu.'
        when r.check_name = 'followup_report_missing' then
            'Laporan bulan ' || (select string_agg(m ->> 'label' || ' (jatuh tempo ' || (m ->> 'due_date') || ')', ', ')
                                 from jsonb_array_elements(r.facts -> 'months') m) || ' belum diterima.'
        when r.check_name = 'followup_report_late' then
            'Laporan bulan ' || (select string_agg(m ->> 'label' || ' diterima ' || (m ->> 'submitted_on') || ', '
                                                   || (m ->> 'working_days_late') || ' hari kerja setelah jatuh tempo '
                                                   || (m ->> 'due_date'), '; ')
                                 from jsonb_array_elements(r.facts -> 'months') m) || '.'
        when r.check_name = 'followup_overdue' then
            (r.facts ->> 'count') || ' pengaduan sudah didisposisikan tetapi belum ditindaklanjuti lebih dari '
            || (r.facts ->> 'limit') || ' hari kerja; yang terlama ' || (r.facts -> 'oldest' ->> 'tracking_id')
            || ' (' || (r.facts -> 'oldest' ->> 'working_days') || ' hari kerja).'
        when r.check_name = 'export_missing' then
            'Ekspor laporan tanggal ' || (r.facts ->> 'export_day') || ' tidak diterima.'
        when r.check_name = 'export_unreadable' then
            'Berkas ' || (r.facts ->> 'file') || ' ditolak (' || (r.facts ->> 'reason_code') || ').'
        when r.check_name = 'followup_unreadable' then
            (select string_agg('Berkas ' || (f ->> 'file') || ' ditolak (' || (f ->> 'reason_code') || ')', '; ')
             from jsonb_array_elements(r.facts -> 'files') f) || '.'
        when r.check_name = 'ingest_failed' then
            'Pemuatan berkas tanggal ' || r.run_date || ' tidak selesai; jalankan ulang tanggal itu setelah penyebabnya diperbaiki.'
        when r.check_name = 'sk_missing' then
            case when r.facts ->> 'sk_number' is not null
                 then 'SK ' || (r.facts ->> 'sk_number') || ' baru berlaku ' || (r.facts ->> 'sk_date') || '.'
                 else 'Belum ada SK pengelola pengaduan yang terdaftar.' end
        when r.check_name = 'volume_anomaly' then
            'Hanya ' || (r.facts ->> 'seen') || ' pengaduan baru dalam ' || (r.facts ->> 'window_working_days')
            || ' hari kerja terakhir; biasanya sekitar ' || round((r.facts ->> 'expected')::numeric, 1)
            || ' (paling sedikit ' || round((r.facts ->> 'expected_min')::numeric, 1) || ').'
        when r.check_name = 'stale_export' then
            'Ekspor laporan tidak berubah sama sekali selama ' || (r.facts ->> 'unchanged_working_days')
            || ' hari kerja (sama dengan ekspor ' || (r.facts ->> 'unchanged_since') || ').'
    end as finding
from {{ source('quality', 'check_results') }} r
