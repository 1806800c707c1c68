#!/usr/bin/env bash
# Re-create the vendored CRD schemas in this folder from package registries (run by hand when
# upgrading Strimzi or KEDA; the tests only read the committed files, offline).
#
# Strimzi: Maven Central io.strimzi:api:$STRIMZI (the model classes) + io.strimzi:crd-generator:$STRIMZI
#   (Strimzi's own CRD generator), run exactly as Strimzi's api/pom.xml runs it for its install files,
#   for kafka.strimzi.io/v1 only. The generator needs Java 21+ (JAVA=/path/to/java).
# KEDA: the Go module github.com/kedacore/keda/v2@$KEDA from the Go module proxy; its
#   config/crd/bases/ holds the CRDs KEDA installs.
# Compose: schema/compose-spec.json of the Go module github.com/compose-spec/compose-go/v2@$COMPOSE_GO
#   (written to deploy/compose/schema/).
set -euo pipefail
STRIMZI=${STRIMZI:-1.2.0}
KEDA=${KEDA:-v2.21.0}
COMPOSE_GO=${COMPOSE_GO:-v2.16.2}
JAVA=${JAVA:-java}
HERE=$(cd "$(dirname "$0")" && pwd)
M2=${M2:-$HOME/.m2/repository}

for artifact in api crd-generator; do
  mvn -q dependency:get -Dartifact="io.strimzi:$artifact:$STRIMZI" -Dtransitive=false
done
out="$HERE/strimzi-$STRIMZI"
rm -rf "$out" && mkdir -p "$out"
"$JAVA" -cp "$M2/io/strimzi/api/$STRIMZI/api-$STRIMZI.jar:$M2/io/strimzi/crd-generator/$STRIMZI/crd-generator-$STRIMZI.jar" \
  io.strimzi.crdgenerator.CrdGenerator --target-kube 1.16+ --crd-api-version v1 \
  --api-versions v1 --storage-version v1 --yaml \
  "io.strimzi.api.kafka.model.kafka.Kafka=$out/kafka.yaml" \
  "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$out/kafkanodepool.yaml" \
  "io.strimzi.api.kafka.model.topic.KafkaTopic=$out/kafkatopic.yaml" \
  "io.strimzi.api.kafka.model.user.KafkaUser=$out/kafkauser.yaml"

dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@$KEDA" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
out="$HERE/keda-${KEDA#v}"
rm -rf "$out" && mkdir -p "$out"
for crd in keda.sh_scaledobjects.yaml keda.sh_triggerauthentications.yaml; do
  cp "$dir/config/crd/bases/$crd" "$out/$crd"
  chmod 644 "$out/$crd"
done
# The Compose file schema, from the Go module Docker Compose itself loads files with.
dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/compose-spec/compose-go/v2@$COMPOSE_GO" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
install -m 644 "$dir/schema/compose-spec.json" "$HERE/../../compose/schema/compose-spec.json"
echo "$COMPOSE_GO" > "$HERE/../../compose/schema/VERSION"
echo "vendored Strimzi $STRIMZI and KEDA $KEDA CRDs into $HERE, compose-go $COMPOSE_GO's compose-spec.json"
