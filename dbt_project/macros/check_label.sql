{#- A check's name in Bahasa Indonesia, as the e-mails say it (plugins/lapor/alerts/templates/_labels.j2). -#}
{% macro check_label(column) -%}
    case {{ column }}
        when 'export_unreadable' then 'Ekspor laporan tidak dapat dibaca'
        when 'export_missing' then 'Ekspor laporan harian tidak diterima'
        when 'followup_report_missing' then 'Laporan hasil tindak lanjut belum disampaikan'
        when 'followup_overdue' then 'Pengaduan belum ditindaklanjuti melewati batas waktu'
        when 'followup_report_late' then 'Laporan hasil tindak lanjut terlambat'
        when 'sk_missing' then 'SK pengelola pengaduan belum ada'
        when 'ingest_failed' then 'Pemuatan berkas instansi gagal'
        when 'followup_unreadable' then 'Laporan hasil tindak lanjut tidak dapat dibaca'
        when 'volume_anomaly' then 'Pengaduan baru jauh di bawah biasanya'
        when 'stale_export' then 'Ekspor laporan tidak berubah'
        else {{ column }}
    end
{%- endmacro %}
