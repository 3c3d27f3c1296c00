#!/usr/bin/env bash
# Runs the JMH inference benchmark in one run and prints docs/benchmarks.md's table. Not part of the test command.
#   bench/run.sh                      # the documented run: every backend and ONNX Runtime (about 15 minutes);
#                                     # writes the table into docs/benchmarks.md
#   bench/run.sh -p model=resnet20    # JMH options replace the default selection
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${RESNETC_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -q -B package -DskipTests -pl src/bench -am
cp="src/bench/target/classes:src/bench/target/lib/*"
out=bench/results.json
# The forks take their JVM options (--add-modules jdk.incubator.vector, heap) from @Fork on the benchmark.
jmh() { "$JAVA_HOME/bin/java" -cp "$cp" org.openjdk.jmh.Main InferenceBench -wi 3 -w 1 -i 4 -r 2 "$@"; }
if [ $# -gt 0 ]; then
  jmh -rf json -rff "$out" "$@"
else
  # The reference interpreter only on the small model (a ResNet-50 prediction takes it half a second).
  jmh -p model=resnet20 -rf json -rff bench/results-resnet20.json
  jmh -p model=resnet50 -p backend=java,native,ort -rf json -rff bench/results-resnet50.json
  "$JAVA_HOME/bin/java" -cp "$cp" resnetc.bench.Table --update docs/benchmarks.md bench/results-resnet20.json bench/results-resnet50.json
  exit
fi
"$JAVA_HOME/bin/java" -cp "$cp" resnetc.bench.Table "$out"
