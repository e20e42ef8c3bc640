// Package imageref parses, normalizes and matches container image references. It is
// the only place in sealgate that does: every rule that looks at an image goes through
// Parse, and every allowlist entry through CompilePattern, so that an image is judged
// by what the container runtime will pull, never by how its string happens to look.
//
// # References
//
// Parse follows the reference grammar of github.com/distribution/reference, the one
// container runtimes use (name, optional ":tag", optional "@digest"), and normalizes
// the result to one canonical form:
//
//   - The first path component is a registry host only if a "/" follows it and it
//     contains "." or ":" or is "localhost" (docker's rule). Otherwise the image is on
//     Docker Hub: "acme/app" is docker.io/acme/app.
//   - Docker Hub has one spelling. "nginx", "library/nginx", "docker.io/nginx",
//     "docker.io/library/nginx" and "index.docker.io/library/nginx" are all registry
//     "docker.io", repository "library/nginx": a single-component Hub repository gets
//     "library/". Only docker.io and index.docker.io are Hub; any other host,
//     registry-1.docker.io included, is a registry of its own, as runtimes treat it.
//   - Hosts are case-insensitive and are lower-cased: "REGISTRY.EXAMPLE.COM/x" is
//     registry.example.com/x. The port is part of the registry:
//     registry.example.com:5000 and registry.example.com are different registries.
//     IPv6 hosts are written in brackets ("[::1]:5000/x") and rewritten in canonical
//     form. An upper-case Docker Hub host is rejected, because runtimes would not
//     treat it as Docker Hub.
//   - Tag and digest are both kept when both are given ("app:1.2@sha256:...").
//
// Parse rejects, with an error that quotes the input and says what is wrong: an empty
// string; whitespace and control characters; any non-ASCII character, hosts included
// (no IDNA, so a host spelled with a look-alike letter, such as Cyrillic U+0435 for
// "e", never passes for the real one); a URL scheme ("https://..."); upper case anywhere in
// the repository path ("Acme/app" is an error, not a host called "Acme"); empty path
// components and leading, trailing or doubled separators; a name (registry/repository,
// after normalization) longer than 255 characters; a port that is not a number in
// 1-65535 written without leading zeros; a tag outside [A-Za-z0-9_][A-Za-z0-9_.-]{0,127};
// a digest other than sha256, sha384 or sha512 with exactly 64, 96 or 128 lower-case hex
// digits; and a bare 64-hex image ID. Where the distribution grammar is looser than
// this, Parse is stricter, never looser, and it never reads an accepted reference
// differently from docker's normalization (a test checks both against an oracle).
//
// Docker's normalization is also what containerd and CRI-O use, unless CRI-O is set up
// to resolve short names through other registries; a policy that must not depend on
// that should list fully qualified patterns only.
//
// # Patterns
//
// A pattern (an allowlist or deny-list entry, the images of a signature rule) is written
// like an image name, optionally pinned to one tag or one digest, and is normalized
// exactly like a reference, so the pattern "nginx" is docker.io/library/nginx. In the
// repository path, and only there, a whole segment may be a wildcard:
//
//   - "*" matches exactly one path segment: "ghcr.io/acme/*" matches ghcr.io/acme/app
//     but not ghcr.io/acme/app/sub, ghcr.io/acmeevil/app or ghcr.io/acme.
//   - "**" matches zero or more segments and must be the last segment:
//     "registry.example.com/**" matches every repository on that registry (and only
//     that registry and port), "ghcr.io/acme/**" matches ghcr.io/acme and everything
//     under it.
//   - A pattern matches a reference when the registries are equal (host and port,
//     after normalization) and the path segments match one by one. Matching never
//     compares string prefixes: "registry.example.com/**" does not match
//     registry.example.com.evil.io/x or registry.example.com:5000/x, and
//     "docker.io/acme/*" does not match docker.io/acmeevil/app.
//   - Matching sees the normalized reference: "docker.io/*" means the official images
//     (it is docker.io/library/*, just as the reference "docker.io/nginx" is
//     docker.io/library/nginx), "docker.io/**" means all of Docker Hub, and
//     "docker.io/*/*" matches official images too.
//
// A pattern without tag or digest matches every tag and digest of the repositories it
// names. Pinned, it matches less:
//
//   - ":tag" ("ubuntu:24.04") matches references with exactly that tag: tags are
//     case-sensitive, and there are no wildcards in tags. A reference with neither tag
//     nor digest has the tag "latest", which is what runtimes pull.
//   - "@digest" ("ubuntu@sha256:...") matches references with exactly that digest,
//     whatever tag is written beside it: the digest is what runs.
//   - A tag beside a digest ("ubuntu:24.04@sha256:...") is decoration: nothing checks
//     that the digest is the one the tag points at. So the two ways a pattern is used
//     read it differently. Match, for lists that grant (allowlists, exceptions), does not
//     let "ubuntu:24.04" match "ubuntu:24.04@sha256:<any digest>", which could name
//     any image ever pushed to the repository. Mentions, for lists that refuse
//     (deny-lists), does: a reference that claims to be the denied tag is refused.
//     Neither can see which tag a bare digest was pushed as.
//
// CompilePattern rejects, with a hint: a wildcard in the host ("*.example.com/**"); a
// wildcard that is part of a segment ("acme-*"); "**" before the last segment; a
// wildcard in a tag ("ubuntu:24.*"); both a tag and a digest (the digest alone decides);
// a leading wildcard without a registry ("*", "**", "*/app"), which could mean Docker
// Hub or any registry; and a bare host without "/" ("registry.example.com" or
// "registry.example.com:5000"), which as an image would name a Docker Hub repository, so
// "registry.example.com/**" must be written instead. Everything a reference may not
// contain, a pattern may not contain either.
package imageref
