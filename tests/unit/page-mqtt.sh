#!/bin/sh
# The live page's MQTT client (sinks/log/page/mqtt.js) under node; skipped
# where node is not installed.
command -v node >/dev/null 2>&1 || { echo "SKIP: node not installed"; exit 77; }
exec node "${top_srcdir:?}/tests/unit/test_page_mqtt.js"
