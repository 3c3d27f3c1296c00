#!/usr/bin/env bash
# Runs the JMH inference benchmark and writes docs/benchmarks.md's table. Not part of the test command.
#   bench/run.sh                      # everything (about 25 minutes on 2 cores)
#   bench/run.sh -p model=resnet20    # any JMH options narrow the run
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${RESNETC_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -q -B package -DskipTests -pl src/bench -am
out=bench/results.json
# The forks take their JVM options (--add-modules jdk.incubator.vector, heap) from @Fork on the benchmark.
"$JAVA_HOME/bin/java" -cp "src/bench/target/classes:src/bench/target/lib/*" \
  org.openjdk.jmh.Main InferenceBench -rf json -rff "$out" "$@"
"$JAVA_HOME/bin/java" -cp "src/bench/target/classes:src/bench/target/lib/*" resnetc.bench.Table "$out"
