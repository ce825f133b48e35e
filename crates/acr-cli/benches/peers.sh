#!/usr/bin/env bash
# The `acr` command-line tool beside its peers, in one run, against one CNCF distribution
# registry on loopback: a verified blob download into a file and a blob upload, each next
# to curl (a raw GET into a file; a monolithic POST + PUT), sha256sum of the same bytes,
# oci-client (built from ./oci-client-peer, a workspace of its own), and oras-py where it
# is importable (`pip install oras`). Prints seconds, MB/s, CPU seconds and peak RSS per
# run; asserts nothing.
#
#   crates/acr-cli/benches/peers.sh [SIZE_MIB (1024)] [REPETITIONS (3)]
#
# Needs Debian's docker-registry (CNCF distribution) and /usr/bin/time.
set -euo pipefail
size_mib=${1:-1024}
repetitions=${2:-3}
cd "$(dirname "$0")/../../.."

cargo build --release --locked -p acr-cli >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
acr="$target_dir/release/acr"
peer_dir="crates/acr-cli/benches/oci-client-peer"
cargo build --release --locked --manifest-path "$peer_dir/Cargo.toml" \
    --target-dir "$target_dir/peers/oci-client-peer" >&2
oci_client="$target_dir/peers/oci-client-peer/release/oci-client-peer"

work=$(mktemp -d)
registry_pid=
# Gigabytes live in $work: it goes whatever the registry's exit status (a failing `wait`
# would end the trap early under `set -e`).
cleanup() {
    if [ -n "$registry_pid" ]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/config.yml" <<CONFIG
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
CONFIG
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
registry="http://127.0.0.1:$port"
for _ in $(seq 1 50); do
    curl -fs "$registry/v2/" >/dev/null && break
    sleep 0.2
done

blob="$work/blob"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$blob"
digest="sha256:$(sha256sum "$blob" | cut -d' ' -f1)"
bytes=$(stat -c %s "$blob")
repository=bench/peers
"$acr" --allow-http --registry "$registry" blob push "$repository" "$blob" >/dev/null

have_oras=false
python3 -c 'import oras.provider' 2>/dev/null && have_oras=true

# measure LABEL COMMAND...: one run, timed by /usr/bin/time, each from the same state of
# the machine's memory: a blob's size written and removed just before, every dirty page
# written back. Without that, the client that runs after sha256sum (which reads the blob
# through the page cache) pays the kernel's reclaim of that cache, whichever client it is,
# and `acr`, which syncs its file before the rename, would pay for other writers' data.
prime() {
    curl -fs -o "$work/out" "$registry/v2/$repository/blobs/$digest"
    rm -f "$work/out"
    sync
}
printf '%-34s %8s %9s %8s %8s %10s\n' "run (${size_mib} MiB)" seconds MB/s user sys "peak RSS"
measure() {
    local label=$1
    shift
    prime
    /usr/bin/time -f '%e %U %S %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" \
        || { echo "$label failed:" >&2; cat "$work/stderr" >&2; return 1; }
    read -r seconds user sys rss_kib <"$work/time"
    python3 - "$label" "$seconds" "$user" "$sys" "$rss_kib" "$bytes" <<'PY'
import sys
label, seconds, user, sys_, rss, size = sys.argv[1:]
rate = int(size) / max(float(seconds), 1e-3) / 1e6
print(f"{label:<34} {float(seconds):8.2f} {rate:9.0f} {float(user):8.2f} {float(sys_):8.2f} {int(rss) / 1024:7.1f}MiB")
PY
}

# The peers that take more than one command, as scripts /usr/bin/time can run.
cat >"$work/oras_pull.py" <<'PY'
import sys
import oras.provider
registry, repository, digest, out = sys.argv[1:]
host = registry.split("://")[1]
client = oras.provider.Registry(host, insecure=True)
client.download_blob(client.get_container(f"{host}/{repository}"), digest, out)
PY
cat >"$work/curl_push.sh" <<'SH'
set -euo pipefail
registry=$1 repository=$2 digest=$3 blob=$4
location=$(curl -fsi -X POST "$registry/v2/$repository/blobs/uploads/" \
    | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
case "$location" in http*) ;; *) location="$registry$location" ;; esac
case "$location" in *\?*) location="$location&digest=$digest" ;; *) location="$location?digest=$digest" ;; esac
curl -fs -X PUT -H 'Content-Type: application/octet-stream' -T "$blob" "$location" -o /dev/null
SH

for repetition in $(seq 1 "$repetitions"); do
    echo "-- repetition $repetition"
    measure "curl GET (raw, into a file)" curl -fs -o "$work/out" "$registry/v2/$repository/blobs/$digest"
    measure "sha256sum (the same bytes)" sha256sum "$blob"
    measure "acr blob pull -o (verified)" "$acr" --allow-http --registry "$registry" \
        blob pull "$repository" "$digest" -o "$work/out"
    measure "oci-client pull_blob (verified)" "$oci_client" "$registry" "$repository" "$digest" "$work/out"
    if $have_oras; then
        measure "oras-py download_blob" python3 "$work/oras_pull.py" "$registry" "$repository" "$digest" "$work/out"
    fi
    measure "curl POST + PUT (monolithic)" bash "$work/curl_push.sh" "$registry" "$repository-curl-$repetition" "$digest" "$blob"
    measure "acr blob push" "$acr" --allow-http --registry "$registry" \
        blob push "$repository-acr-$repetition" "$blob"
done
$have_oras || echo "(oras-py not importable: pip install oras to compare it too)"
