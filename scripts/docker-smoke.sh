#!/usr/bin/env bash
# Build the real Dockerfile with podman and check the image works, without a registry or Telegram.
#
#   scripts/docker-smoke.sh            # from the repository root; needs root, apt, .venv
#
# Steps: local Debian base image (cached, scripts/make-base-image.sh) -> `podman build` of the
# unmodified Dockerfile (CPU torch wheel from this machine via find-links, tiny random models
# baked in from a named build context) -> checks run inside the image with `buildah run`
# (`podman run` does not work in this sandbox): indexing, search, the bot against a fake
# Bot API on 127.0.0.1, and the bad inputs of issue 6. One PASS/FAIL line per check; exit 1 if
# any failed, 0 if all passed or if podman cannot be installed here (SKIP line).
#
# The image stays (its layers are the build cache that makes the next run take minutes).
# Environment: T2I_SMOKE_IMAGE (tag, default localhost/t2i-bot:smoke), T2I_SMOKE_KEEP=1 keeps the
# work dir, PYTHON (host interpreter with the dev requirements, default .venv).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT" || exit 1
BASE_IMAGE="localhost/t2i-base:bookworm"
IMAGE="${T2I_SMOKE_IMAGE:-localhost/t2i-bot:smoke}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/t2i-docker-smoke"
WORK="$(mktemp -d /tmp/t2i-smoke.XXXXXX)"
APP_UID=10001
FAILED=0
CTR=""
PIDS=()

say() { printf '%s\n' "$*"; }
pass() { say "PASS $*"; }
fail() { say "FAIL $*"; FAILED=1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
    [ -n "$CTR" ] && buildah rm "$CTR" >/dev/null 2>&1
    if [ "${T2I_SMOKE_KEEP:-0}" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- 1. tools and base image
"$ROOT/scripts/make-base-image.sh" "$BASE_IMAGE"
case $? in
    0) ;;
    3) say "SKIP docker smoke: podman/buildah cannot be used here (reason above)"; exit 0 ;;
    *) fail "base image"; exit 1 ;;
esac

# ---------------------------------------------------------------- 2. inputs for the build
TORCH_PIN="$(grep -E '^torch==' requirements.txt)"
TORCH_VERSION="${TORCH_PIN#torch==}"
WHEELS=""
for dir in ${PIP_FIND_LINKS:-} /opt/wheels "$CACHE/wheels"; do
    if compgen -G "$dir/torch-${TORCH_VERSION}+cpu-*.whl" >/dev/null; then WHEELS="$dir"; break; fi
done
if [ -z "$WHEELS" ] && mkdir -p "$CACHE/wheels" && "$PYTHON" -m pip download -q --no-deps \
        --index-url https://download.pytorch.org/whl/cpu -d "$CACHE/wheels" "$TORCH_PIN"; then
    WHEELS="$CACHE/wheels"
fi
BUILD_ARGS=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if [ -n "$WHEELS" ]; then
    # The CPU wheel from disk; torch's own dependencies from the ordinary index.
    BUILD_ARGS+=(--build-arg "TORCH_INDEX_URL=${PIP_INDEX_URL:-https://pypi.org/simple}"
                 --build-arg "PIP_EXTRA_ARGS=--find-links /wheels" -v "$WHEELS:/wheels:ro")
    say "torch wheel: $WHEELS"
else
    say "torch wheel: none on disk, using the Dockerfile's default CPU index"
fi
CA=/etc/ssl/certs/ca-certificates.crt
[ -f "$CA" ] && BUILD_ARGS+=(-v "$CA:$CA:ro")

# Tiny random-weight models in the real hub layouts (tests/fakes/tiny_models.py), cached.
# "other-clip" differs by seed only: a catalog built with it must be refused by the others.
mkdir -p "$CACHE/models"
if "$PYTHON" - "$CACHE/models" 2>"$WORK/models.log" <<'EOF'
import sys
from pathlib import Path

from tests.fakes.tiny_models import build_tiny_clip, build_tiny_multilingual_text

out = Path(sys.argv[1])
build_tiny_clip(out / "tiny-clip")
build_tiny_multilingual_text(out / "tiny-text")
build_tiny_clip(out / "other-clip", seed=1)
EOF
then pass "tiny models built in $CACHE/models"; else fail "tiny models"; exit 1; fi
LOCAL=/opt/local-models

# A few generated photos to index (distinct colours and shapes), one corrupt file.
mkdir -p "$WORK/images" "$WORK/data" "$WORK/empty-data"
"$PYTHON" - "$WORK/images" <<'EOF'
import sys
from pathlib import Path

from PIL import Image, ImageDraw

out = Path(sys.argv[1])
colours = ["red", "green", "blue", "yellow", "purple", "orange"]
for i, colour in enumerate(colours):
    img = Image.new("RGB", (320 + 40 * i, 240), colour)
    ImageDraw.Draw(img).ellipse((40, 40, 200, 200), fill="white")
    img.save(out / f"{i:02d}-{colour}.jpg", quality=90)
(out / "broken.jpg").write_bytes(b"not a jpeg")
EOF
chown -R "$APP_UID:$APP_UID" "$WORK/data" "$WORK/empty-data"

# ---------------------------------------------------------------- 3. build the real Dockerfile
t0=$(now)
if podman build --isolation chroot --network=host --format docker --layers \
        "${BUILD_ARGS[@]}" \
        --build-context "local-models=$CACHE/models" \
        --build-arg BAKE_MODELS=1 \
        --build-arg "T2I_IMAGE_MODEL=$LOCAL/tiny-clip" \
        --build-arg "T2I_TEXT_MODEL=$LOCAL/tiny-text" \
        -t "$IMAGE" -f Dockerfile . >"$WORK/build.log" 2>&1; then
    pass "podman build ($(since "$t0") s)"
else
    fail "podman build ($(since "$t0") s); last lines of the log:"
    tail -n 30 "$WORK/build.log"
    exit 1
fi
grep -E '^ok: ' "$WORK/build.log" | sed 's/^/    baked /'

SIZE=$(podman image inspect --format '{{.Size}}' "$IMAGE")
say "INFO image size: $((SIZE / 1000000)) MB ($SIZE bytes)"
CONFIG=$(podman image inspect --format \
    'user={{.Config.User}} health={{.Config.Healthcheck}} entry={{.Config.Entrypoint}} cmd={{.Config.Cmd}} volumes={{.Config.Volumes}}' \
    "$IMAGE" 2>&1)
say "INFO $CONFIG"
case "$CONFIG" in
    *"user=10001:10001"*"healthcheck"*"volumes=map[/data:"*) pass "image config: non-root, HEALTHCHECK, VOLUME /data" ;;
    *) fail "image config: expected user 10001, a healthcheck on python -m bot, VOLUME /data" ;;
esac

CTR=$(buildah from "$IMAGE") || { fail "buildah from"; exit 1; }
# buildah mounts its own copy of a VOLUME path and, in an order that varies from run to run,
# hides a bind mount on the same path; drop the declaration in this working container only
# (the image keeps VOLUME /data, checked above) so `-v DIR:/data` behaves as with Docker.
buildah config --volume /data- "$CTR"
# Run a command inside the image: host network, image env and user, optional -v/-e before `--`.
in_image() { buildah run --isolation chroot --network host "$@"; }
IMAGES_RO=(-v "$WORK/images:/images:ro")

# ---------------------------------------------------------------- 4. checks inside the image
check_torch() {
    local out
    out=$(in_image "$CTR" -- python -c \
        'import os, torch; print(torch.__version__, torch.version.cuda, os.getuid(), os.environ["HF_HUB_OFFLINE"])' 2>&1)
    if [[ "$out" == "$TORCH_VERSION"+cpu" None $APP_UID 1" ]]; then
        pass "CPU torch $out (version, cuda, uid, HF_HUB_OFFLINE)"
    else fail "torch/user/offline: $out"; fi
}

check_index() {
    local out rc t
    t=$(now)
    out=$(in_image -v "$WORK/data:/data" "${IMAGES_RO[@]}" "$CTR" -- \
        t2i-entrypoint indexer build /images --json 2>"$WORK/index.err"); rc=$?
    say "    $(printf '%s' "$out" | tail -n 1)"
    if [ $rc -eq 0 ] && printf '%s' "$out" | tail -n 1 | "$PYTHON" -c \
        'import json, sys; d = json.loads(sys.stdin.read()); sys.exit(0 if d.get("indexed", d.get("added", 0)) >= 6 or d.get("images", 0) >= 6 else 1)'; then
        pass "index build of 7 files (1 corrupt) ($(since "$t") s)"
    else fail "index build rc=$rc: $(tail -n 3 "$WORK/index.err")"; fi
    # The entrypoint's shorthand on the same folder: nothing new, still exit 0.
    if in_image -v "$WORK/data:/data" "${IMAGES_RO[@]}" "$CTR" -- t2i-entrypoint index /images \
        >"$WORK/index2.log" 2>&1; then pass "entrypoint 'index /images' (re-run, nothing new)"
    else fail "entrypoint 'index /images': $(tail -n 3 "$WORK/index2.log")"; fi
}

check_search() {
    local out rc
    out=$(in_image -v "$WORK/data:/data:ro" "${IMAGES_RO[@]}" "$CTR" -- \
        t2i-entrypoint indexer search "a red dress" -k 3 --json 2>"$WORK/search.err"); rc=$?
    if [ $rc -eq 0 ] && printf '%s' "$out" | tail -n 1 | "$PYTHON" -c \
        'import json, sys; h = json.loads(sys.stdin.read()); assert len(h) == 3 and {"id", "path", "score"} <= set(h[0]), h; print("    top:", h[0]["path"], round(h[0]["score"], 3))'; then
        pass "search --json on a read-only /data: 3 hits"
    else fail "search rc=$rc: $out $(tail -n 3 "$WORK/search.err")"; fi
    out=$(in_image -v "$WORK/data:/data:ro" "$CTR" -- t2i-entrypoint indexer stats --json 2>&1)
    say "    stats: $(printf '%s' "$out" | tail -n 1)"
    if in_image -v "$WORK/data:/data:ro" "$CTR" -- t2i-entrypoint indexer verify >"$WORK/verify.log" 2>&1
    then pass "indexer verify"; else fail "indexer verify: $(tail -n 3 "$WORK/verify.log")"; fi
}

# One clear line, no traceback, the expected exit code.
expect_one_line() {  # NAME EXPECTED_RC PATTERN -- COMMAND...
    local name=$1 want=$2 pattern=$3 out rc lines
    shift 4
    # buildah's own lines about the exit status are not the program's output.
    out=$("$@" 2>&1 | grep -vE '^(subprocess exited with status|Error: exit status) [0-9]+$'
          exit "${PIPESTATUS[0]}"); rc=$?
    lines=$(printf '%s\n' "$out" | grep -c .)
    if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && ! grep -q Traceback <<<"$out" \
        && grep -qiE "$pattern" <<<"$out"; then
        pass "$name: exit $rc, one line: $out"
    else fail "$name: exit $rc (want $want), $lines lines: $(head -c 600 <<<"$out")"; fi
}

check_bad_input() {
    expect_one_line "missing T2I_BOT_TOKEN" 2 "T2I_BOT_TOKEN" -- \
        in_image "$CTR" -- t2i-entrypoint bot
    expect_one_line "catalog built with other models" 2 "model" -- \
        in_image -v "$WORK/data:/data:ro" -e "T2I_IMAGE_MODEL=$LOCAL/other-clip" "$CTR" -- \
        t2i-entrypoint indexer search "a red dress" --json
    expect_one_line "index with no path" 2 "usage" -- in_image "$CTR" -- t2i-entrypoint index
    local out
    out=$(in_image "$CTR" -- t2i-entrypoint python -c 'print("passthrough")' 2>&1)
    if [ "$out" = passthrough ]; then pass "entrypoint runs other commands as given"
    else fail "entrypoint passthrough: $out"; fi
}

# Start the fake Bot API (host) and the bot (image); wait for the scenario's RESULT line.
run_bot() {  # NAME DATA_MOUNT DRIVER_ARGS...
    local name=$1 data=$2 log="$WORK/bot-$1" base result startup hc
    shift 2
    setsid "$PYTHON" docker/smoke_driver.py "$@" >"$log.driver" 2>&1 &
    local driver=$!
    PIDS+=("$driver")
    for _ in $(seq 100); do grep -q '^READY ' "$log.driver" && break; sleep 0.1; done
    base=$(sed -n 's/^READY //p' "$log.driver")
    if [ -z "$base" ]; then fail "bot $name: fake Bot API did not start: $(cat "$log.driver")"; return; fi
    setsid buildah run --isolation chroot --network host -v "$data" "${IMAGES_RO[@]}" \
        -e T2I_BOT_TOKEN=123456:SMOKE-test-token -e "T2I_TELEGRAM_API_URL=$base" \
        -e "T2I_TELEGRAM_FILE_URL=${base%/bot}/file/bot" -e T2I_STATE_DIR=/tmp/t2i-state \
        -e T2I_RELOAD_INTERVAL_S=2 "$CTR" -- t2i-entrypoint bot >"$log.log" 2>&1 &
    local bot=$!
    PIDS+=("$bot")
    for _ in $(seq 1800); do
        grep -q '^RESULT ' "$log.driver" && break
        kill -0 "$bot" 2>/dev/null || break
        sleep 0.1
    done
    startup=$(sed -n 's/^CALL setMyCommands \(.*\)/\1/p' "$log.driver" | head -n 1)
    result=$(sed -n 's/^RESULT //p' "$log.driver")
    if [ "$name" = catalog ] && [ -n "$startup" ]; then
        # Health: the running bot's heartbeat, read by the HEALTHCHECK command in the same rootfs.
        if hc=$(in_image "$CTR" -- t2i-entrypoint healthcheck 2>&1); then pass "healthcheck while running: $hc"
        else fail "healthcheck while running: $hc"; fi
    fi
    kill -TERM -- "-$bot" 2>/dev/null
    for _ in $(seq 150); do kill -0 "$bot" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$bot" 2>/dev/null; then
        fail "bot $name: still running 15 s after SIGTERM"; kill -KILL -- "-$bot" 2>/dev/null
    fi
    kill -TERM -- "-$driver" 2>/dev/null
    say "    calls: $(grep '^CALL' "$log.driver" | awk '{print $2}' | sort | uniq -c | tr -s ' \n' ' ')"
    if [[ "$result" == ok* ]] && [ -n "$startup" ]; then
        pass "bot $name: getMe + setMyCommands after ${startup} s, then ${result#ok }"
        [ "$name" = catalog ] && STARTUP_CALLS_S=$startup
    else
        fail "bot $name: ${result:-no result}; bot log tail:"
        tail -n 15 "$log.log"
    fi
    if grep -q Traceback "$log.log"; then fail "bot $name: traceback in its log"; tail -n 20 "$log.log"; fi
}

check_torch
check_index
check_search
check_bad_input
STARTUP_CALLS_S=""
# Read-only /data (the bot's state goes to T2I_STATE_DIR), as docker-compose.yml runs it.
run_bot catalog "$WORK/data:/data:ro" --expect photos --query "a red dress"
run_bot empty "$WORK/empty-data:/data" --expect text --expect-text "indexer build" --query "a cat"

say "INFO bot start-up (container start -> setMyCommands): ${STARTUP_CALLS_S:-?} s"
if [ $FAILED -eq 0 ]; then say "docker smoke: ALL PASSED"; else say "docker smoke: FAILED"; fi
exit $FAILED
