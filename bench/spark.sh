#!/usr/bin/env bash
# Images/s of the Spark scoring job (local[1], local[2]) against the plain model jar on the same PNG files, both
# decoding; prints docs/benchmarks.md's Spark table. Needs ../shared; not part of the test command.
#   bench/spark.sh [java|native] [COPIES of the 1000 shared images, default 5] [RUNS, default 3]
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${RESNETC_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
cpfile="$(mktemp)"
trap 'rm -f "$cpfile"' EXIT
mvn -q -B test-compile dependency:build-classpath -pl src/spark -am -Dmdep.outputFile="$cpfile" -Dmdep.includeScope=test
# The flags a Spark executor needs for resnetc models (README: Spark), and a heap for 5000 images of input.
"$JAVA_HOME/bin/java" -Xmx4g --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
  --sun-misc-unsafe-memory-access=allow -Dlog4j2.configurationFile=src/spark/src/test/resources/log4j2-test.properties \
  -Dresnetc.root="$PWD" -cp "src/spark/target/test-classes:src/spark/target/classes:$(cat "$cpfile")" resnetc.spark.SparkBench "$@"
