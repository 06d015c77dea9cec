"""What the tests and the benchmarks share to drive the dashboard: a client that speaks
Streamlit's WebSocket protocol as a browser tab does (st_client), a running server and Chromium
(browser_support), cohort files built in memory (files) and the hostile files an attacker would
upload (hostile). Not part of the dashboard: the image does not copy it."""
