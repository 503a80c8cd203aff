#!/usr/bin/env bash
# NuGet packages: packs Edge.Format, Edge.Runtime and Edge.Extensions.AI, checks what each package holds (licence, README, XML docs,
# repository metadata, symbols), then builds tests/PackageConsumer outside the repository against those packages from
# a local folder feed, runs it on the bundled model, and publishes it with NativeAOT (no trim or AOT warnings).
#   eng/ci-package.sh [results-dir]    writes <results-dir>/package-checks.counts ("PASSED FAILED"); about 3 min.
set -uo pipefail
cd "$(dirname "$0")/.."
. eng/checks.sh "${1:-TestResults}" package
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

version=$(sed -nE 's|.*<Version>([^<]+)</Version>.*|\1|p' Directory.Build.props)
feed="$work/feed"
for p in Edge.Format Edge.Runtime Edge.Extensions.AI; do
  if out=$(dotnet pack "runtime/$p" -c Release -o "$feed" -nologo 2>&1); then pass "dotnet pack runtime/$p"
  else fail "dotnet pack runtime/$p" "$(tail -n 3 <<<"$out")"; fi
done

# What a package must hold: its metadata and files, read from the .nupkg (a zip) itself.
for p in Edge.Format Edge.Runtime Edge.Extensions.AI; do
  nupkg="$feed/$p.$version.nupkg"
  if problems=$(python3 - "$nupkg" "$p" <<'PY'
import re, sys, zipfile
path, name = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(path)
files = set(z.namelist())
nuspec = z.read(f"{name}.nuspec").decode()
need = {
    "licence expression MIT": '<license type="expression">MIT</license>' in nuspec,
    "readme": "<readme>README.md</readme>" in nuspec and "README.md" in files,
    "description": re.search(r"<description>.{40,}</description>", nuspec) is not None,
    "repository metadata": "<repository " in nuspec,
    "assembly": f"lib/net10.0/{name}.dll" in files,
    "XML docs": f"lib/net10.0/{name}.xml" in files,
}
print(", ".join(k for k, ok in need.items() if not ok))
PY
  ) && [ -z "$problems" ]; then pass "$p.$version.nupkg holds its licence, README, description, repository, docs"
  else fail "$p.$version.nupkg holds its licence, README, description, repository, docs" "missing: $problems"; fi
  if [ -s "$feed/$p.$version.snupkg" ]; then pass "$p.$version.snupkg (symbols)"; else fail "$p.$version.snupkg (symbols)"; fi
done

# A user's app, outside the repository, that knows Edge only as packages.
app="$work/app"
cp -r tests/PackageConsumer "$app"
rm -rf "$app/bin" "$app/obj"
cat > "$app/nuget.config" <<XML
<configuration>
  <packageSources>
    <add key="edge-local" value="$feed" />
  </packageSources>
</configuration>
XML
export NUGET_PACKAGES="$work/packages"   # a fresh cache: never an older build of the same version
model=$(realpath models/kjv-brown-36m.edge)
if out=$(cd "$app" && dotnet run -c Release -p:EdgeVersion="$version" -- "$model" 2>&1) && ! grep -q '^FAILED' <<<"$out"; then
  pass "an app using the packages from a folder feed generates text ($(grep -c '^ok' <<<"$out") checks)"
else
  fail "an app using the packages from a folder feed generates text" "$(tail -n 4 <<<"$out")"
fi
if out=$(cd "$app" && dotnet publish -c Release -r linux-x64 -p:PublishAot=true -p:EdgeVersion="$version" -o "$work/aot" 2>&1) &&
   aot=$("$work/aot/PackageConsumer" "$model" 2>&1) && ! grep -q '^FAILED' <<<"$aot"; then
  pass "the same app published with NativeAOT (warnings are errors) runs"
else
  fail "the same app published with NativeAOT (warnings are errors) runs" "$(tail -n 4 <<<"$out$aot")"
fi
checks_done
