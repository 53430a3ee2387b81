# Shared by platforms/hosttest/run.sh and platforms/android/check-jvm.sh (sourced, after
# `root` and `target` are set): the Kotlin/JVM prerequisites and the generated bindings.
#
# Needs: kotlinc (KOTLIN_HOME, default: the npm package kotlin-compiler), JNA (JNA_JAR,
# default: Debian libjna-java), java. A missing one exits 77 with "MISSING: ...".

K="${KOTLIN_HOME:-$(npm root -g 2>/dev/null || true)/kotlin-compiler}"
JNA="${JNA_JAR:-$(dpkg -L libjna-java 2>/dev/null | grep '/jna\.jar$' | head -1 || true)}"
# Compile and run class paths beside the caller's own jars.
KOTLIN_CP_COMPILE="$JNA:$K/lib/kotlinx-coroutines-core-jvm.jar"
KOTLIN_CP_RUN="$JNA:$K/lib/kotlin-stdlib.jar:$K/lib/kotlinx-coroutines-core-jvm.jar"

missing() { echo "MISSING: $*" >&2; exit 77; }

require_kotlin_jvm() {
    command -v cargo >/dev/null || missing "cargo"
    [ -x "$K/bin/kotlinc" ] || missing "kotlinc ($K/bin/kotlinc; npm install -g kotlin-compiler@2.4.20, or set KOTLIN_HOME)"
    [ -n "$JNA" ] && [ -f "$JNA" ] || missing "JNA jar (apt-get install libjna-java, or set JNA_JAR)"
    command -v java >/dev/null || missing "java"
}

# kotlin_bindings OUT: builds uniffi-bindgen and libopenrtmp_ffi.so into $target/debug and
# generates the Kotlin bindings into OUT/bindings. The bindgen binary is built first (its
# build enables uniffi's `cli` feature and so rebuilds the library with it), then the library
# alone, so the .so the JVM loads is the plain one.
kotlin_bindings() {
    local out="$1"
    (cd "$root" && cargo build -q -p openrtmp-ffi --features cli --bin uniffi-bindgen \
        && cargo build -q -p openrtmp-ffi --lib)
    rm -rf "$out/bindings"
    "$target/debug/uniffi-bindgen" generate --library "$target/debug/libopenrtmp_ffi.so" \
        --language kotlin --out-dir "$out/bindings" --no-format
    [ -n "$(find "$out/bindings" -name '*.kt' -print -quit)" ] \
        || { echo "no Kotlin generated" >&2; return 1; }
}
