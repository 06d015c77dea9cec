"""What the views share, one concern a module: the browser (identity), the cohort in use and its
results (cohort), the upload of a cohort (upload), download links (downloads), the sidebar
filters (sidebar), sign-in (signin), how things are shown (show) and the deployment settings
(settings). The memo that holds what every session shares is memo."""
