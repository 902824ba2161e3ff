#!/bin/sh
# Builds the DomainXML sources with libFuzzer and runs it on the golden inputs as a seed corpus.
# Usage: Fuzz/run-domainxml.sh [seconds]   (default 60)
set -eu
cd "$(dirname "$0")/.."
out=.build/fuzz
mkdir -p "$out/corpus"
cp Tests/Golden/*.xml "$out/corpus/"
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name DomainXML \
    Sources/DomainXML/*.swift Fuzz/DomainXMLFuzz.swift -o "$out/domainxml-fuzz"
exec "$out/domainxml-fuzz" -max_total_time="${1:-60}" -max_len=65536 "$out/corpus"
