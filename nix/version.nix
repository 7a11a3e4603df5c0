# ncro's version as Maven knows it: the first <version> after <artifactId>ncro</artifactId> in
# pom.xml, so the Nix package and `ncro --version` never disagree. Plain Nix (no nixpkgs), so the
# JUnit packaging test can evaluate it with Debian's nix-instantiate.
let
  pom = builtins.readFile ../pom.xml;
  found = builtins.match ".*<artifactId>ncro</artifactId>[[:space:]]*<version>([^<]+)</version>.*" pom;
in
if found == null then
  throw "nix/version.nix: no <version> right after <artifactId>ncro</artifactId> in pom.xml"
else
  builtins.head found
