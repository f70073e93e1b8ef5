# The status page in a real browser: headless Chromium (Debian's chromium package).
# shellcheck shell=bash

# page_rows OUT URL [PREFIX...]: loads the status page at URL in headless Chromium (run
# through PREFIX, e.g. `ip netns exec NS`), lets its script fetch and render the table,
# saves a screenshot as OUT.png and the rendered DOM as OUT.html, and prints each row as
# tests/lib/page-rows.py does (MAC|ADDRESS|HOST|STAGE|STATE).
page_rows() {
        local out=$1 url=$2 browser
        shift 2
        browser=$(command -v chromium) || fail "chromium not found: install chromium (tests/deps.sh)"
        mkdir -p "$(dirname "$out")"
        # --virtual-time-budget: the page's fetches and rendering run before the dump.
        local flags=(--headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
                --user-data-dir="$PXF_TMP/chromium" --virtual-time-budget=8000)
        "$@" "$browser" "${flags[@]}" --dump-dom "$url" > "$out.html" 2> "$out.log" \
                || fail "chromium could not load $url: $(tail -n 5 "$out.log")"
        "$@" "$browser" "${flags[@]}" --window-size=1400,600 --screenshot="$out.png" "$url" \
                >> "$out.log" 2>&1 || fail "chromium could not take a screenshot of $url"
        [ -s "$out.png" ] || fail "no screenshot of $url"
        echo "status page: screenshot $out.png, DOM $out.html" >&2
        python3 "$PXF_SOURCE_DIR/tests/lib/page-rows.py" "$out.html" || fail "the status page's table is unsafe"
}
