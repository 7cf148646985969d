//! The image catalog: which images the simulated registry holds and how a
//! container started from each one behaves (docs/sim.md).
//!
//! A catalog is YAML with one top-level key, `images`, a list of entries:
//!
//! ```yaml
//! images:
//!   - name: registry.example.com/shop/api   # repository, without tag (required)
//!     tags: ["1.4.1", "1.4.2"]              # at least one (required)
//!     private: false
//!     binaries: ["/app/server"]
//!     requires_env: ["DATABASE_URL"]
//!     requires_files: ["/etc/shop/config.yaml"]
//!     memory_mib: 180
//!     listens: [8080]
//!     health_path: /healthz
//!     startup_seconds: 5
//!     runs_as_root: false
//!     exit_after_seconds: null
//!     exit_code: 0
//!     logs: ["listening on :8080"]
//! ```
//!
//! Every field but `name` and `tags` is optional; [`Image`] documents each
//! default. Unknown fields, wrong types, duplicate images or tags and
//! out-of-range numbers are refused by [`Catalog::parse`] with the file, the
//! line and column, the path of the field and a hint on how to fix it, e.g.
//! `catalog.yaml:7:17: images[1].memory_mib: expected a number of MiB, got "lots"`.
//!
//! Image references given to [`Catalog::lookup`] are matched the way a
//! container runtime normalises them ([`parse_ref`]): `nginx`,
//! `docker.io/nginx` and `docker.io/library/nginx` are one repository, so a
//! catalog entry written either way matches all three.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// The built-in catalog's YAML text: a small fictional shop plus a few public
/// images people use with `kubectl run`.
pub const DEFAULT_CATALOG_YAML: &str = include_str!("default-catalog.yaml");

/// The file name the built-in catalog reports in errors.
pub const DEFAULT_CATALOG_FILE: &str = "default-catalog.yaml";

/// Log-line prefix that marks where an image checks its required environment
/// variables, and what it prints when one is missing (`{name}` is replaced
/// by the variable's name). See [`Image::logs`].
pub const MISSING_ENV_MARKER: &str = "on-missing-env:";

/// Log-line prefix that marks where an image checks its required files, and
/// what it prints when one is missing (`{path}` is replaced by the path).
/// See [`Image::logs`].
pub const MISSING_FILE_MARKER: &str = "on-missing-file:";

/// The failure line used when an image needs an env var but its `logs` have
/// no [`MISSING_ENV_MARKER`] line.
pub const DEFAULT_MISSING_ENV_LINE: &str = "FATAL: {name} is not set";

/// The failure line used when an image needs a file but its `logs` have no
/// [`MISSING_FILE_MARKER`] line.
pub const DEFAULT_MISSING_FILE_LINE: &str = "open {path}: no such file or directory";

/// Memory an image needs when the catalog does not say (`memory_mib`).
pub const DEFAULT_MEMORY_MIB: u64 = 32;

const IMAGE_FIELDS: &[&str] = &[
    "name",
    "tags",
    "private",
    "binaries",
    "requires_env",
    "requires_files",
    "memory_mib",
    "listens",
    "health_path",
    "startup_seconds",
    "runs_as_root",
    "exit_after_seconds",
    "exit_code",
    "logs",
    "routes",
];

const ROUTE_FIELDS: &[&str] = &[
    "path",
    "method",
    "tags",
    "status",
    "body",
    "latency_ms",
    "share",
];

/// A catalog that could not be loaded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogError {
    /// The text is not well-formed YAML.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// The file name given to [`Catalog::parse`].
        file: String,
        /// 1-based line of the problem (0 when unknown).
        line: u64,
        /// 1-based column of the problem (0 when unknown).
        column: u64,
        /// What the YAML parser found wrong.
        message: String,
    },
    /// Well-formed YAML whose content breaks the catalog format.
    #[error("{file}:{line}:{column}: {}{message}", path_prefix(.path))]
    Invalid {
        /// The file name given to [`Catalog::parse`].
        file: String,
        /// 1-based line of the offending node.
        line: u64,
        /// 1-based column of the offending node.
        column: u64,
        /// Where in the document, e.g. `images[1].memory_mib` (empty for the top level).
        path: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// One image repository of the catalog and how its containers behave.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The repository as written in the catalog, without tag, e.g.
    /// `registry.example.com/shop/api` or `nginx`.
    pub name: String,
    /// Tags the registry holds; pulling any other tag fails with "not found".
    pub tags: Vec<String>,
    /// Whether pulling needs an imagePullSecret (default `false`).
    pub private: bool,
    /// Absolute paths of the executables in the image. The first one is the
    /// image's entrypoint, run when a container sets no `command`. A command
    /// given by path must match one exactly; a bare name (`nginx`) matches by
    /// file name, as a `$PATH` lookup would. Default: none, which means the
    /// image's own entrypoint runs fine but any explicit command is missing.
    pub binaries: Vec<String>,
    /// Environment variables the program needs, non-empty (default none).
    pub requires_env: Vec<String>,
    /// Files the program reads at start; they must come from a volume mount
    /// (default none).
    pub requires_files: Vec<String>,
    /// Memory the running program uses, in MiB; a memory limit below it gets
    /// the container OOMKilled (default [`DEFAULT_MEMORY_MIB`]).
    pub memory_mib: u64,
    /// TCP ports the program listens on once started (default none).
    pub listens: Vec<u16>,
    /// The only HTTP path that answers 200 on the listening ports; other
    /// paths answer 404. `None` (the default): every path answers 200.
    pub health_path: Option<String>,
    /// Seconds from start until the program accepts connections; probes
    /// before that fail (default 0).
    pub startup_seconds: f64,
    /// Whether the image's user is root, which `runAsNonRoot` refuses
    /// (default `false`: a numeric non-root user).
    pub runs_as_root: bool,
    /// For batch images: the program exits this many seconds after start
    /// (default `None`: it runs until stopped).
    pub exit_after_seconds: Option<f64>,
    /// The exit code of a batch image (default 0).
    pub exit_code: i32,
    /// Lines the program prints at start, in order. Two kinds of line are
    /// instructions rather than output:
    ///
    /// - `on-missing-env: <text>` — at this point the program checks
    ///   `requires_env`; if a variable is missing it prints `<text>` (with
    ///   `{name}` replaced by the variable) and exits 1. If the check passes
    ///   the line prints nothing.
    /// - `on-missing-file: <text>` — the same for `requires_files`, with
    ///   `{path}`.
    ///
    /// `<text>` may contain `\n` to print several lines. Without such a line
    /// the check happens before the first log line and prints
    /// [`DEFAULT_MISSING_ENV_LINE`] / [`DEFAULT_MISSING_FILE_LINE`].
    pub logs: Vec<String>,
    /// How the listening ports answer particular requests, beyond the
    /// health path (default none). Entries are tried in order; see
    /// [`Route`].
    pub routes: Vec<Route>,
}

/// One way a listening program answers: requests matching `path` (and
/// `method`, and the container's image tag among `tags`) get `status`
/// and `body` after `latency_ms`. `share` below 1 answers only that
/// fraction of the matching requests (evenly spread: 0.25 is every
/// fourth); the others fall through to the next matching entry, and
/// finally to the health-path answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// An exact path (`/api/orders`), or a prefix ending in `/*`
    /// (`/api/orders/*` matches `/api/orders/17`, not `/api/orders`).
    pub path: String,
    /// Only this method (upper case); `None`: any.
    pub method: Option<String>,
    /// Only these image tags (versions); empty: every tag.
    pub tags: Vec<String>,
    /// The status code (default 200).
    pub status: u16,
    /// The response body (default `ok` or `error` and a newline).
    pub body: String,
    /// Milliseconds before the answer is sent (default 0).
    pub latency_ms: u64,
    /// The fraction of matching requests answered here, 0 < share <= 1
    /// (default 1).
    pub share: f64,
}

impl Route {
    /// Whether a request's method and path (query left out) match.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        match self.path.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix) && path.len() > prefix.len(),
            None => self.path == path,
        }
    }
}

impl Image {
    /// The routes that apply to containers running `tag`.
    pub fn routes_for(&self, tag: &str) -> Vec<Route> {
        self.routes
            .iter()
            .filter(|r| r.tags.is_empty() || r.tags.iter().any(|t| t == tag))
            .cloned()
            .collect()
    }

    /// The entrypoint (the first binary), if the catalog lists any.
    pub fn entrypoint(&self) -> Option<&str> {
        self.binaries.first().map(String::as_str)
    }

    /// Finds the binary a command word names: an absolute path must be
    /// listed exactly; a bare name matches a listed binary's file name.
    /// Relative paths with a `/` are taken from `/`.
    pub fn find_binary(&self, command: &str) -> Option<&str> {
        if command.is_empty() {
            return None;
        }
        if command.starts_with('/') {
            return self
                .binaries
                .iter()
                .find(|b| b.as_str() == command)
                .map(String::as_str);
        }
        if command.contains('/') {
            let abs = format!("/{}", command.trim_start_matches("./"));
            return self
                .binaries
                .iter()
                .find(|b| **b == abs)
                .map(String::as_str);
        }
        self.binaries
            .iter()
            .find(|b| b.rsplit('/').next() == Some(command))
            .map(String::as_str)
    }

    /// Whether `tag` is one the registry holds.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// A loaded, validated catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    images: Vec<Image>,
    /// `images[i]`'s repository, normalised by [`parse_ref`].
    repositories: Vec<String>,
}

/// The answer of [`Catalog::lookup`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'a> {
    /// The repository exists and holds the tag (or the reference is by digest).
    Found(&'a Image),
    /// No catalog entry has this repository.
    UnknownRepository,
    /// The repository exists but does not hold this tag.
    UnknownTag(&'a Image),
}

impl Catalog {
    /// Parses and validates a catalog; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Catalog, CatalogError> {
        let mut options = serde_saphyr::Options::default();
        // Duplicate keys are reported by the validator, with a path.
        options.duplicate_keys = serde_saphyr::options::DuplicateKeyPolicy::PassThrough;
        let root: Spanned<Node> =
            serde_saphyr::from_str_with_options(text, options).map_err(|e| syntax(file, &e))?;
        Validator { file }.catalog(&root)
    }

    /// The built-in catalog ([`DEFAULT_CATALOG_YAML`]).
    pub fn builtin() -> Catalog {
        match Catalog::parse(DEFAULT_CATALOG_YAML, DEFAULT_CATALOG_FILE) {
            Ok(catalog) => catalog,
            // The file is compiled in and a unit test parses it, so this
            // cannot happen in a tested build; fail loudly rather than
            // run a cluster with no images.
            Err(e) => panic!("the built-in image catalog is invalid: {e}"),
        }
    }

    /// The images, in catalog order.
    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// Finds the image a container's `image` field refers to.
    ///
    /// A reference by digest (`…@sha256:…`) is accepted for any catalogued
    /// repository (the catalog lists tags only); a tag next to the digest
    /// is then ignored, as container runtimes do.
    pub fn lookup(&self, image: &str) -> Lookup<'_> {
        let r = parse_ref(image);
        let Some(i) = self.repositories.iter().position(|x| *x == r.repository) else {
            return Lookup::UnknownRepository;
        };
        let found = &self.images[i];
        if r.digest.is_some() || found.has_tag(&r.tag) {
            Lookup::Found(found)
        } else {
            Lookup::UnknownTag(found)
        }
    }
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The reference as written.
    pub original: String,
    /// The registry host (with port), `docker.io` for Docker Hub.
    pub domain: String,
    /// The repository path within the registry, e.g. `library/nginx`.
    pub path: String,
    /// Fully qualified repository, e.g. `docker.io/library/nginx`.
    pub repository: String,
    /// The tag, `latest` when none is written.
    pub tag: String,
    /// Whether a tag was written.
    pub explicit_tag: bool,
    /// The digest (`sha256:…`), when written.
    pub digest: Option<String>,
}

impl ImageRef {
    /// The reference as a container runtime spells it in messages:
    /// `docker.io/library/nginx:1.25`, `…@sha256:…`.
    pub fn full(&self) -> String {
        match (&self.digest, self.explicit_tag) {
            (Some(d), true) => format!("{}:{}@{d}", self.repository, self.tag),
            (Some(d), false) => format!("{}@{d}", self.repository),
            (None, _) => format!("{}:{}", self.repository, self.tag),
        }
    }

    /// The reference as the kubelet spells it in events: as written, with
    /// `:latest` appended when it has neither tag nor digest.
    pub fn kubelet(&self) -> String {
        if self.explicit_tag || self.digest.is_some() {
            self.original.clone()
        } else {
            format!("{}:latest", self.original)
        }
    }

    /// The registry host to contact (`registry-1.docker.io` for Docker Hub).
    pub fn registry_host(&self) -> &str {
        if self.domain == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.domain
        }
    }

    /// Whether the repository lives on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.domain == "docker.io"
    }
}

/// Parses an image reference: `[host[:port]/]path[:tag][@digest]`.
///
/// The first path component is a registry host when it contains `.` or
/// `:` or is `localhost`; otherwise the image is on Docker Hub
/// (`docker.io`), where one-component names live under `library/`.
/// Never fails: a malformed reference simply matches no catalog entry.
pub fn parse_ref(image: &str) -> ImageRef {
    let original = image.trim().to_string();
    let (rest, digest) = match original.split_once('@') {
        Some((r, d)) => (r.to_string(), Some(d.to_string())),
        None => (original.clone(), None),
    };
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => {
            (rest[..i].to_string(), Some(rest[i + 1..].to_string()))
        }
        _ => (rest.clone(), None),
    };
    let (domain, path) = split_domain(&name);
    ImageRef {
        repository: format!("{domain}/{path}"),
        explicit_tag: tag.is_some(),
        tag: tag.unwrap_or_else(|| "latest".to_string()),
        original,
        domain,
        path,
        digest,
    }
}

fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => ("docker.io".to_string(), name.to_string()),
    };
    let domain = if domain == "index.docker.io" {
        "docker.io".to_string()
    } else {
        domain
    };
    let path = if domain == "docker.io" && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    (domain, path)
}

// ---------------------------------------------------------------------------
// YAML tree with locations

/// A YAML node; children carry their source location.
#[derive(Debug, Clone, PartialEq)]
enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

fn describe(node: &Node) -> String {
    match node {
        Node::Null => "null".to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => f.to_string(),
        Node::Str(s) => quote(s),
        Node::Seq(_) => "a list".to_string(),
        Node::Map(_) => "a mapping".to_string(),
    }
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn syntax(file: &str, e: &serde_saphyr::Error) -> CatalogError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let mut message = e.without_snippet().to_string();
    if message.starts_with("multiple YAML documents") {
        message = "a second YAML document starts here (after \"---\"); put every image in \
                   one document under \"images:\""
            .to_string();
    }
    let suffix = format!(" at line {line}, column {column}");
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_string();
    }
    if message.contains("tabs disallowed") {
        message.push_str("; indent with spaces, not tabs");
    }
    CatalogError::Syntax {
        file: file.to_string(),
        line,
        column,
        message,
    }
}

// ---------------------------------------------------------------------------
// Validation

struct Validator<'f> {
    file: &'f str,
}

type V<T> = Result<T, CatalogError>;

impl Validator<'_> {
    fn err(&self, at: &Spanned<Node>, path: &str, message: impl Into<String>) -> CatalogError {
        CatalogError::Invalid {
            file: self.file.to_string(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            path: path.to_string(),
            message: message.into(),
        }
    }

    fn catalog(&self, root: &Spanned<Node>) -> V<Catalog> {
        let entries = match &root.value {
            Node::Map(entries) => entries,
            Node::Null => {
                return Err(self.err(
                    root,
                    "",
                    "the catalog is empty; it needs a top-level \"images:\" list",
                ));
            }
            other => {
                return Err(self.err(
                    root,
                    "",
                    format!(
                        "expected a mapping with an \"images\" list, got {}",
                        describe(other)
                    ),
                ));
            }
        };
        let mut images_node = None;
        for (key, value) in entries {
            let name = self.key_name(key, "")?;
            if name != "images" {
                return Err(self.err(
                    key,
                    "",
                    format!(
                        "unknown field {}{}; the top level has only \"images\"",
                        quote(&name),
                        suggestion(&name, &["images"])
                    ),
                ));
            }
            if images_node.is_some() {
                return Err(self.err(key, "images", "appears twice; keep one \"images:\" list"));
            }
            images_node = Some(value);
        }
        let Some(images_node) = images_node else {
            return Err(self.err(
                root,
                "",
                "missing \"images\"; list the images under a top-level \"images:\" key",
            ));
        };
        let items = match &images_node.value {
            Node::Seq(items) => items,
            other => {
                return Err(self.err(
                    images_node,
                    "images",
                    format!("expected a list of images, got {}", describe(other)),
                ));
            }
        };
        if items.is_empty() {
            return Err(self.err(
                images_node,
                "images",
                "the list is empty; add at least one entry with a name and tags",
            ));
        }
        let mut images: Vec<Image> = Vec::new();
        let mut repositories: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let path = format!("images[{i}]");
            let (image, name_node) = self.image(item, &path)?;
            let repository = parse_ref(&image.name).repository;
            if let Some(j) = repositories.iter().position(|r| *r == repository) {
                return Err(self.err(
                    name_node,
                    &format!("{path}.name"),
                    format!(
                        "{} is already listed as images[{j}] ({}); merge the tags into one entry",
                        quote(&repository),
                        quote(&images[j].name)
                    ),
                ));
            }
            repositories.push(repository);
            images.push(image);
        }
        Ok(Catalog {
            images,
            repositories,
        })
    }

    fn key_name(&self, key: &Spanned<Node>, path: &str) -> V<String> {
        match &key.value {
            Node::Str(s) => Ok(s.clone()),
            other => Err(self.err(
                key,
                path,
                format!("expected a field name, got {}", describe(other)),
            )),
        }
    }

    fn image<'n>(&self, item: &'n Spanned<Node>, path: &str) -> V<(Image, &'n Spanned<Node>)> {
        let Node::Map(entries) = &item.value else {
            return Err(self.err(
                item,
                path,
                format!(
                    "expected a mapping with name and tags, got {}",
                    describe(&item.value)
                ),
            ));
        };
        self.known_fields(entries, path, IMAGE_FIELDS, "image", "the fields are")?;
        let field = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Node::Str(s) if s == name))
                .map(|(_, v)| v)
        };

        let Some(name_node) = field("name") else {
            return Err(self.err(
                item,
                path,
                "missing \"name\" (the repository without tag, e.g. registry.example.com/shop/api)",
            ));
        };
        let name = self.repository_name(name_node, &format!("{path}.name"))?;
        let Some(tags_node) = field("tags") else {
            return Err(self.err(
                item,
                path,
                "missing \"tags\"; list at least one tag, e.g. tags: [\"1.0.0\"]",
            ));
        };
        let tags = self.tags(tags_node, &format!("{path}.tags"))?;

        let p = |f: &str| format!("{path}.{f}");
        let routes = self.opt_list(field("routes"), &p("routes"), |v, n, at| {
            v.route(n, at, &tags)
        })?;
        let image = Image {
            name,
            tags,
            private: self.opt_bool(field("private"), &p("private"))?,
            binaries: self.opt_list(field("binaries"), &p("binaries"), |v, n, at| {
                v.abs_path(n, at, "binary")
            })?,
            requires_env: self.opt_list(
                field("requires_env"),
                &p("requires_env"),
                |v, n, at| v.env_name(n, at),
            )?,
            requires_files: self.opt_list(
                field("requires_files"),
                &p("requires_files"),
                |v, n, at| v.abs_path(n, at, "file"),
            )?,
            memory_mib: match field("memory_mib") {
                None => DEFAULT_MEMORY_MIB,
                Some(n) if n.value == Node::Null => DEFAULT_MEMORY_MIB,
                Some(n) => self.mib(n, &p("memory_mib"))?,
            },
            listens: self.opt_list(field("listens"), &p("listens"), |v, n, at| v.port(n, at))?,
            health_path: match field("health_path") {
                None => None,
                Some(n) if n.value == Node::Null => None,
                Some(n) => Some(self.http_path(n, &p("health_path"))?),
            },
            startup_seconds: match field("startup_seconds") {
                None => 0.0,
                Some(n) if n.value == Node::Null => 0.0,
                Some(n) => self.seconds(n, &p("startup_seconds"))?,
            },
            runs_as_root: self.opt_bool(field("runs_as_root"), &p("runs_as_root"))?,
            exit_after_seconds: match field("exit_after_seconds") {
                None => None,
                Some(n) if n.value == Node::Null => None,
                Some(n) => Some(self.seconds(n, &p("exit_after_seconds"))?),
            },
            exit_code: match field("exit_code") {
                None => 0,
                Some(n) if n.value == Node::Null => 0,
                Some(n) => self.exit_code(n, &p("exit_code"))?,
            },
            logs: self.logs(field("logs"), &p("logs"))?,
            routes,
        };
        Ok((image, name_node))
    }

    /// Refuses unknown and repeated keys of a mapping (`what`: "image").
    fn known_fields(
        &self,
        entries: &[(Spanned<Node>, Spanned<Node>)],
        path: &str,
        allowed: &[&str],
        what: &str,
        listing: &str,
    ) -> V<()> {
        let mut seen: Vec<String> = Vec::new();
        for (key, _) in entries {
            let name = self.key_name(key, path)?;
            if !allowed.contains(&name.as_str()) {
                return Err(self.err(
                    key,
                    path,
                    format!(
                        "unknown field {}{}; {listing} {}",
                        quote(&name),
                        suggestion(&name, allowed),
                        allowed.join(", ")
                    ),
                ));
            }
            if seen.contains(&name) {
                return Err(self.err(
                    key,
                    &format!("{path}.{name}"),
                    format!("appears twice in this {what}; keep one"),
                ));
            }
            seen.push(name);
        }
        Ok(())
    }

    fn route(&self, item: &Spanned<Node>, path: &str, image_tags: &[String]) -> V<Route> {
        let Node::Map(entries) = &item.value else {
            return Err(self.err(
                item,
                path,
                format!(
                    "expected a mapping such as {{path: /api/orders, status: 500}}, got {}",
                    describe(&item.value)
                ),
            ));
        };
        self.known_fields(
            entries,
            path,
            ROUTE_FIELDS,
            "route",
            "the fields of a route are",
        )?;
        let field = |name: &str| {
            entries
                .iter()
                .find(|(k, _)| matches!(&k.value, Node::Str(s) if s == name))
                .map(|(_, v)| v)
                .filter(|v| v.value != Node::Null)
        };
        let p = |f: &str| format!("{path}.{f}");
        let Some(path_node) = field("path") else {
            return Err(self.err(item, path, "missing \"path\", e.g. path: /api/orders"));
        };
        let route_path = self.http_path(path_node, &p("path"))?;
        if route_path.contains('*') && !route_path.ends_with("/*")
            || route_path.matches('*').count() > 1
        {
            return Err(self.err(
                path_node,
                &p("path"),
                format!(
                    "{}: '*' may only end a path, after a '/' (e.g. /api/orders/*)",
                    quote(&route_path)
                ),
            ));
        }
        let method = match field("method") {
            None => None,
            Some(n) => {
                let m = self.string(n, &p("method"), "an HTTP method such as GET")?;
                if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(self.err(
                        n,
                        &p("method"),
                        format!("{} is not an HTTP method; write e.g. GET or POST", quote(m)),
                    ));
                }
                Some(m.to_ascii_uppercase())
            }
        };
        let tags = match field("tags") {
            None => Vec::new(),
            Some(n) => {
                let tags = self.tags(n, &p("tags"))?;
                if let Some(t) = tags.iter().find(|t| !image_tags.contains(t)) {
                    return Err(self.err(
                        n,
                        &p("tags"),
                        format!(
                            "{} is not one of this image's tags ({}); list only tags the image has",
                            quote(t),
                            image_tags.join(", ")
                        ),
                    ));
                }
                tags
            }
        };
        let status = match field("status") {
            None => 200,
            Some(n) => {
                self.int_in(n, &p("status"), 100..=599, "an HTTP status code (100-599)")? as u16
            }
        };
        let body = match field("body") {
            None if status < 400 => "ok\n".to_string(),
            None => "error\n".to_string(),
            Some(n) => self
                .string(n, &p("body"), "a response body (a string)")?
                .to_string(),
        };
        let latency_ms = match field("latency_ms") {
            None => 0,
            Some(n) => self.int_in(
                n,
                &p("latency_ms"),
                0..=60_000,
                "milliseconds from 0 to 60000",
            )? as u64,
        };
        let share = match field("share") {
            None => 1.0,
            Some(n) => {
                let v = match &n.value {
                    Node::Int(i) => *i as f64,
                    Node::Float(f) => *f,
                    other => {
                        return Err(self.err(
                            n,
                            &p("share"),
                            format!("expected a fraction such as 0.3, got {}", describe(other)),
                        ));
                    }
                };
                if !(v > 0.0 && v <= 1.0) {
                    return Err(self.err(
                        n,
                        &p("share"),
                        format!("share {v} is out of range; use a fraction above 0 and at most 1"),
                    ));
                }
                v
            }
        };
        Ok(Route {
            path: route_path,
            method,
            tags,
            status,
            body,
            latency_ms,
            share,
        })
    }

    /// A whole number within `range`; else "expected {what}, got …".
    fn int_in(
        &self,
        node: &Spanned<Node>,
        path: &str,
        range: std::ops::RangeInclusive<i128>,
        what: &str,
    ) -> V<i128> {
        match &node.value {
            Node::Int(n) if range.contains(n) => Ok(*n),
            other => Err(self.err(
                node,
                path,
                format!("expected {what}, got {}", describe(other)),
            )),
        }
    }

    fn string<'n>(&self, node: &'n Spanned<Node>, path: &str, what: &str) -> V<&'n str> {
        match &node.value {
            Node::Str(s) => Ok(s),
            other => Err(self.err(
                node,
                path,
                format!("expected {what}, got {}", describe(other)),
            )),
        }
    }

    fn repository_name(&self, node: &Spanned<Node>, path: &str) -> V<String> {
        let name = self.string(
            node,
            path,
            "a repository name such as registry.example.com/shop/api",
        )?;
        if name.contains('@') {
            return Err(self.err(
                node,
                path,
                format!(
                    "{} carries a digest; write the repository only and list tags under \"tags\"",
                    quote(name)
                ),
            ));
        }
        if let Some(i) = name.rfind(':')
            && !name[i + 1..].contains('/')
        {
            return Err(self.err(
                node,
                path,
                format!(
                    "{} carries a tag; write name: {} and put {} under \"tags\"",
                    quote(name),
                    &name[..i],
                    quote(&name[i + 1..])
                ),
            ));
        }
        if !valid_repository(name) {
            return Err(self.err(
                node,
                path,
                format!(
                    "{} is not a valid repository name (lowercase letters, digits and \
                     '.', '_', '-' in components separated by '/', optionally after a \
                     registry host such as registry.example.com:5000)",
                    quote(name)
                ),
            ));
        }
        Ok(name.to_string())
    }

    fn tags(&self, node: &Spanned<Node>, path: &str) -> V<Vec<String>> {
        let items = match &node.value {
            Node::Seq(items) => items,
            Node::Str(s) => {
                return Err(self.err(
                    node,
                    path,
                    format!(
                        "expected a list of tags, got {}; write tags: [{}]",
                        quote(s),
                        quote(s)
                    ),
                ));
            }
            other => {
                return Err(self.err(
                    node,
                    path,
                    format!("expected a list of tags, got {}", describe(other)),
                ));
            }
        };
        if items.is_empty() {
            return Err(self.err(
                node,
                path,
                "the list is empty; list at least one tag, e.g. [\"latest\"]",
            ));
        }
        let mut tags: Vec<String> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let tag = match &item.value {
                Node::Str(s) => s.clone(),
                Node::Int(n) if *n >= 0 => n.to_string(),
                Node::Float(f) => {
                    return Err(self.err(
                        item,
                        &at,
                        format!(
                            "YAML read this tag as the number {f}; quote tags that look like \
                             numbers, e.g. \"{f}\""
                        ),
                    ));
                }
                other => {
                    return Err(self.err(
                        item,
                        &at,
                        format!("expected a tag string, got {}", describe(other)),
                    ));
                }
            };
            if !valid_tag(&tag) {
                return Err(self.err(
                    item,
                    &at,
                    format!(
                        "{} is not a valid tag (letters, digits, '_', '.', '-', at most 128 \
                         characters, not starting with '.' or '-')",
                        quote(&tag)
                    ),
                ));
            }
            if tags.contains(&tag) {
                return Err(self.err(item, &at, format!("{} is listed twice", quote(&tag))));
            }
            tags.push(tag);
        }
        Ok(tags)
    }

    fn opt_bool(&self, node: Option<&Spanned<Node>>, path: &str) -> V<bool> {
        match node {
            None => Ok(false),
            Some(n) => match &n.value {
                Node::Null => Ok(false),
                Node::Bool(b) => Ok(*b),
                other => Err(self.err(
                    n,
                    path,
                    format!("expected true or false, got {}", describe(other)),
                )),
            },
        }
    }

    fn opt_list<T>(
        &self,
        node: Option<&Spanned<Node>>,
        path: &str,
        each: impl Fn(&Self, &Spanned<Node>, &str) -> V<T>,
    ) -> V<Vec<T>> {
        let Some(node) = node else {
            return Ok(Vec::new());
        };
        let items = match &node.value {
            Node::Null => return Ok(Vec::new()),
            Node::Seq(items) => items,
            Node::Str(_) | Node::Int(_) => {
                let shown = describe(&node.value);
                return Err(self.err(
                    node,
                    path,
                    format!("expected a list, got {shown}; write [{shown}]"),
                ));
            }
            other => {
                return Err(self.err(
                    node,
                    path,
                    format!("expected a list, got {}", describe(other)),
                ));
            }
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| each(self, item, &format!("{path}[{i}]")))
            .collect()
    }

    fn abs_path(&self, node: &Spanned<Node>, path: &str, what: &str) -> V<String> {
        let s = self.string(node, path, &format!("an absolute {what} path"))?;
        if !s.starts_with('/') {
            return Err(self.err(
                node,
                path,
                format!(
                    "{} is not an absolute path; write \"/{}\"",
                    quote(s),
                    s.trim_start_matches("./")
                ),
            ));
        }
        if s.len() > 1 && s.ends_with('/') {
            return Err(self.err(
                node,
                path,
                format!("{} names a directory; name the {what} itself", quote(s)),
            ));
        }
        Ok(s.to_string())
    }

    fn env_name(&self, node: &Spanned<Node>, path: &str) -> V<String> {
        let s = self.string(node, path, "an environment variable name")?;
        let mut chars = s.chars();
        let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(self.err(
                node,
                path,
                format!(
                    "{} is not a valid environment variable name (letters, digits and '_', \
                     not starting with a digit)",
                    quote(s)
                ),
            ));
        }
        Ok(s.to_string())
    }

    fn mib(&self, node: &Spanned<Node>, path: &str) -> V<u64> {
        match &node.value {
            Node::Int(n) if *n >= 0 => {
                u64::try_from(*n).map_err(|_| self.err(node, path, format!("{n} MiB is too large")))
            }
            Node::Int(n) => Err(self.err(
                node,
                path,
                format!("expected a number of MiB, got {n}; memory cannot be negative"),
            )),
            Node::Float(f) => Err(self.err(
                node,
                path,
                format!(
                    "expected a whole number of MiB, got {f}; write {}",
                    f.ceil()
                ),
            )),
            Node::Str(s) => {
                let digits = s.trim_end_matches("Mi").trim_end_matches("MiB");
                let hint = if digits != s && digits.parse::<u64>().is_ok() {
                    format!("; write {digits}")
                } else {
                    String::new()
                };
                Err(self.err(
                    node,
                    path,
                    format!("expected a number of MiB, got {}{hint}", quote(s)),
                ))
            }
            other => Err(self.err(
                node,
                path,
                format!("expected a number of MiB, got {}", describe(other)),
            )),
        }
    }

    fn port(&self, node: &Spanned<Node>, path: &str) -> V<u16> {
        match &node.value {
            Node::Int(n) => match u16::try_from(*n) {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(self.err(node, path, format!("port {n} is out of range; use 1-65535"))),
            },
            other => Err(self.err(
                node,
                path,
                format!("expected a port number, got {}", describe(other)),
            )),
        }
    }

    fn http_path(&self, node: &Spanned<Node>, path: &str) -> V<String> {
        let s = self.string(node, path, "an HTTP path such as /healthz")?;
        if !s.starts_with('/') {
            return Err(self.err(
                node,
                path,
                format!("{} must start with '/'; write \"/{s}\"", quote(s)),
            ));
        }
        Ok(s.to_string())
    }

    fn seconds(&self, node: &Spanned<Node>, path: &str) -> V<f64> {
        let n = match &node.value {
            Node::Int(n) => *n as f64,
            Node::Float(f) => *f,
            Node::Str(s) => {
                let digits = s.trim_end_matches('s');
                let hint = if digits != s && digits.parse::<f64>().is_ok() {
                    format!("; write {digits}")
                } else {
                    String::new()
                };
                return Err(self.err(
                    node,
                    path,
                    format!("expected a number of seconds, got {}{hint}", quote(s)),
                ));
            }
            other => {
                return Err(self.err(
                    node,
                    path,
                    format!("expected a number of seconds, got {}", describe(other)),
                ));
            }
        };
        if !n.is_finite() || n < 0.0 {
            return Err(self.err(
                node,
                path,
                format!("{n} seconds is out of range; use 0 or more"),
            ));
        }
        Ok(n)
    }

    fn exit_code(&self, node: &Spanned<Node>, path: &str) -> V<i32> {
        match &node.value {
            Node::Int(n) if (0..=255).contains(n) => Ok(*n as i32),
            Node::Int(n) => Err(self.err(
                node,
                path,
                format!("exit code {n} is out of range; use 0-255"),
            )),
            other => Err(self.err(
                node,
                path,
                format!("expected an exit code (0-255), got {}", describe(other)),
            )),
        }
    }

    fn logs(&self, node: Option<&Spanned<Node>>, path: &str) -> V<Vec<String>> {
        let lines = self.opt_list(node, path, |v, n, at| match &n.value {
            Node::Str(s) => Ok(s.clone()),
            other => Err(v.err(
                n,
                at,
                format!(
                    "expected a log line (a string), got {}; quote the line",
                    describe(other)
                ),
            )),
        })?;
        for marker in [MISSING_ENV_MARKER, MISSING_FILE_MARKER] {
            let mut first = None;
            for (i, line) in lines.iter().enumerate() {
                if line.starts_with(marker) {
                    if let Some(j) = first {
                        let at = match node.map(|n| &n.value) {
                            Some(Node::Seq(items)) => &items[i],
                            _ => continue,
                        };
                        return Err(self.err(
                            at,
                            &format!("{path}[{i}]"),
                            format!(
                                "a second \"{marker}\" line (the first is {path}[{j}]); keep one"
                            ),
                        ));
                    }
                    first = Some(i);
                }
            }
        }
        Ok(lines)
    }
}

fn valid_repository(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    };
    if let Some(domain) = domain {
        let (host, port) = match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        };
        let host_ok = !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
        if !host_ok || !port_ok {
            return false;
        }
    }
    path.split('/').all(|component| {
        let bytes = component.as_bytes();
        !component.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && component
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    })
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with('.')
        && !tag.starts_with('-')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// ` (did you mean "x"?)` for the closest known name: within two edits, or
/// one name a prefix of the other (`memory` → `memory_mib`).
fn suggestion(name: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| {
            let prefix = name.len() >= 3 && (k.starts_with(name) || name.starts_with(k));
            (if prefix { 0 } else { edit_distance(name, k) }, *k)
        })
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| format!(" (did you mean \"{k}\"?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Catalog::parse(text, "catalog.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn builtin_catalog_parses() {
        let catalog = Catalog::parse(DEFAULT_CATALOG_YAML, DEFAULT_CATALOG_FILE)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(catalog.images().len() >= 15);
        let builtin = Catalog::builtin();
        assert_eq!(builtin, catalog);
        let Lookup::Found(api) = builtin.lookup("registry.example.com/shop/api:1.4.2") else {
            panic!("api:1.4.2 missing");
        };
        assert_eq!(api.requires_env, ["DATABASE_URL"]);
        assert_eq!(api.listens, [8080]);
        assert_eq!(api.health_path.as_deref(), Some("/healthz"));
        assert!(matches!(builtin.lookup("nginx:1.27"), Lookup::Found(i) if i.runs_as_root));
        assert!(matches!(
            builtin.lookup("registry.example.com/private/billing:3.1.0"),
            Lookup::Found(i) if i.private
        ));
    }

    #[test]
    fn defaults_apply_to_omitted_fields() {
        let c = Catalog::parse(
            "images:\n  - name: example.com/a\n    tags: [v1]\n",
            "c.yaml",
        )
        .unwrap();
        let i = &c.images()[0];
        assert!(!i.private && !i.runs_as_root);
        assert!(i.binaries.is_empty() && i.requires_env.is_empty() && i.listens.is_empty());
        assert_eq!(i.memory_mib, DEFAULT_MEMORY_MIB);
        assert_eq!(i.startup_seconds, 0.0);
        assert_eq!(i.exit_after_seconds, None);
        assert_eq!(i.exit_code, 0);
        assert_eq!(i.health_path, None);
    }

    #[test]
    fn wrong_type_names_file_line_path_and_value() {
        let text = "images:\n  - name: a.example/x\n    tags: [v1]\n  - name: a.example/y\n    tags: [v1]\n    memory_mib: lots\n";
        assert_eq!(
            err(text),
            "catalog.yaml:6:17: images[1].memory_mib: expected a number of MiB, got \"lots\""
        );
        let text = "images:\n  - name: a.example/y\n    tags: [v1]\n    memory_mib: 512Mi\n";
        assert!(
            err(text).ends_with("got \"512Mi\"; write 512"),
            "{}",
            err(text)
        );
        let text = "images:\n  - name: a.example/y\n    tags: [v1]\n    private: maybe\n";
        assert_eq!(
            err(text),
            "catalog.yaml:4:14: images[0].private: expected true or false, got \"maybe\""
        );
        let text = "images:\n  - name: a.example/y\n    tags: [v1]\n    startup_seconds: 5s\n";
        assert!(err(text).contains("expected a number of seconds, got \"5s\"; write 5"));
    }

    #[test]
    fn unknown_fields_are_refused_with_a_suggestion() {
        let text = "images:\n  - name: a.example/y\n    tags: [v1]\n    memory: 5\n";
        assert!(err(text).starts_with(
            "catalog.yaml:4:5: images[0]: unknown field \"memory\" (did you mean \"memory_mib\"?); \
             the fields are name, tags, private,"
        ));
        let text = "images:\n  - name: a.example/y\n    tags: [v1]\n    listen: [80]\n";
        assert!(err(text).contains("unknown field \"listen\" (did you mean \"listens\"?)"));
        assert!(err("imags: []\n").contains("unknown field \"imags\" (did you mean \"images\"?)"));
    }

    #[test]
    fn missing_and_empty_tags_are_refused() {
        assert_eq!(
            err("images:\n  - name: a.example/y\n"),
            "catalog.yaml:2:5: images[0]: missing \"tags\"; list at least one tag, e.g. tags: [\"1.0.0\"]"
        );
        assert!(
            err("images:\n  - name: a.example/y\n    tags: []\n")
                .starts_with("catalog.yaml:3:11: images[0].tags: the list is empty")
        );
        assert!(err("images:\n  - tags: [v1]\n").contains("missing \"name\""));
        assert!(
            err("images:\n  - name: a.example/y\n    tags: v1\n").contains("write tags: [\"v1\"]")
        );
    }

    #[test]
    fn numeric_looking_tags() {
        let c = Catalog::parse("images:\n  - name: redis\n    tags: [7, \"7.2\"]\n", "c").unwrap();
        assert_eq!(c.images()[0].tags, ["7", "7.2"]);
        let e = err("images:\n  - name: nginx\n    tags: [1.25]\n");
        assert!(
            e.contains("images[0].tags[0]: YAML read this tag as the number 1.25; quote"),
            "{e}"
        );
        assert!(err("images:\n  - name: nginx\n    tags: [\"a b\"]\n").contains("not a valid tag"));
        assert!(
            err("images:\n  - name: nginx\n    tags: [a, a]\n").contains("\"a\" is listed twice")
        );
    }

    #[test]
    fn duplicate_images_match_after_normalisation() {
        let text = "images:\n  - name: nginx\n    tags: [a]\n  - name: docker.io/library/nginx\n    tags: [b]\n";
        assert_eq!(
            err(text),
            "catalog.yaml:4:11: images[1].name: \"docker.io/library/nginx\" is already listed \
             as images[0] (\"nginx\"); merge the tags into one entry"
        );
    }

    #[test]
    fn duplicate_keys_are_reported_with_a_path() {
        let text = "images:\n  - name: a.example/y\n    tags: [v1]\n    tags: [v2]\n";
        assert_eq!(
            err(text),
            "catalog.yaml:4:5: images[0].tags: appears twice in this image; keep one"
        );
    }

    #[test]
    fn routes_parse_with_defaults_and_filter_by_tag() {
        let c = Catalog::parse(
            "images:\n  - name: example.com/a\n    tags: [v1, v2]\n    listens: [8080]\n    routes:\n      - {path: /api/orders, method: get, tags: [v2], status: 500, share: 0.25, latency_ms: 30}\n      - {path: /api/orders/*, body: '[]'}\n",
            "c.yaml",
        )
        .unwrap();
        let i = &c.images()[0];
        assert_eq!(i.routes.len(), 2);
        let r = &i.routes[0];
        assert_eq!(r.method.as_deref(), Some("GET"));
        assert_eq!((r.status, r.latency_ms, r.share), (500, 30, 0.25));
        assert_eq!(r.body, "error\n");
        assert_eq!((i.routes[1].status, i.routes[1].body.as_str()), (200, "[]"));
        assert_eq!(i.routes_for("v1").len(), 1);
        assert_eq!(i.routes_for("v2").len(), 2);
        assert!(r.matches("GET", "/api/orders") && !r.matches("POST", "/api/orders"));
        let prefix = &i.routes[1];
        assert!(prefix.matches("PUT", "/api/orders/17"));
        assert!(!prefix.matches("GET", "/api/orders") && !prefix.matches("GET", "/api/orders/"));
    }

    #[test]
    fn bad_routes_say_what_to_write() {
        let t = |route: &str| {
            format!("images:\n  - name: a.example/y\n    tags: [v1]\n    routes: [{route}]\n")
        };
        assert!(err(&t("{status: 500}")).contains("images[0].routes[0]: missing \"path\""));
        assert!(err(&t("{path: api}")).contains("must start with '/'"));
        assert!(err(&t("{path: /a*b}")).contains("'*' may only end a path"));
        assert!(
            err(&t("{path: /a, status: 700}"))
                .contains("expected an HTTP status code (100-599), got 700")
        );
        assert!(err(&t("{path: /a, share: 0}")).contains("share 0 is out of range"));
        assert!(
            err(&t("{path: /a, tags: [v9]}"))
                .contains("\"v9\" is not one of this image's tags (v1)")
        );
        assert!(err(&t("{path: /a, method: 'G T'}")).contains("is not an HTTP method"));
        assert!(err(&t("{path: /a, statuss: 500}")).contains("unknown field \"statuss\""));
        assert!(
            err(&t("{path: /a, latency_ms: -1}")).contains("expected milliseconds from 0 to 60000")
        );
    }

    #[test]
    fn out_of_range_values() {
        let t =
            |field: &str| format!("images:\n  - name: a.example/y\n    tags: [v1]\n    {field}\n");
        assert!(
            err(&t("listens: [70000]"))
                .contains("images[0].listens[0]: port 70000 is out of range; use 1-65535")
        );
        assert!(err(&t("listens: [0]")).contains("port 0 is out of range"));
        assert!(err(&t("listens: 8080")).contains("expected a list, got 8080; write [8080]"));
        assert!(err(&t("exit_code: 300")).contains("exit code 300 is out of range; use 0-255"));
        assert!(err(&t("startup_seconds: -1")).contains("out of range; use 0 or more"));
        assert!(
            err(&t("memory_mib: 1.5")).contains("expected a whole number of MiB, got 1.5; write 2")
        );
        assert!(
            err(&t("health_path: healthz")).contains("must start with '/'; write \"/healthz\"")
        );
        assert!(
            err(&t("binaries: [app/server]"))
                .contains("not an absolute path; write \"/app/server\"")
        );
        assert!(
            err(&t("requires_env: [DATABASE-URL]"))
                .contains("not a valid environment variable name")
        );
        assert!(err(&t("logs: [1]")).contains("quote the line"));
    }

    #[test]
    fn names_with_tags_or_bad_characters_are_refused() {
        let e = err("images:\n  - name: nginx:1.25\n    tags: [a]\n");
        assert!(
            e.contains(
                "\"nginx:1.25\" carries a tag; write name: nginx and put \"1.25\" under \"tags\""
            ),
            "{e}"
        );
        assert!(
            err("images:\n  - name: Shop/API\n    tags: [a]\n")
                .contains("not a valid repository name")
        );
        // A registry port is not a tag.
        let c = Catalog::parse(
            "images:\n  - name: localhost:5000/shop/api\n    tags: [a]\n",
            "c",
        )
        .unwrap();
        assert!(matches!(
            c.lookup("localhost:5000/shop/api:a"),
            Lookup::Found(_)
        ));
    }

    #[test]
    fn syntax_errors_name_the_file_and_line() {
        let e = Catalog::parse("images:\n  - name: foo\n   tags: [\n", "bad.yaml").unwrap_err();
        let CatalogError::Syntax {
            file,
            line,
            column,
            message,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!((file.as_str(), *line, *column), ("bad.yaml", 3, 4));
        assert!(!message.contains("at line"), "{message}");
        assert!(e.to_string().starts_with("bad.yaml:3:4: "));
        let tabs = Catalog::parse("images:\n\t- name: x\n", "t.yaml").unwrap_err();
        assert!(tabs.to_string().starts_with("t.yaml:2:2: "), "{tabs}");
        assert!(
            tabs.to_string().ends_with("; indent with spaces, not tabs"),
            "{tabs}"
        );
    }

    #[test]
    fn empty_and_misshapen_documents() {
        assert_eq!(
            err(""),
            "catalog.yaml:1:1: the catalog is empty; it needs a top-level \"images:\" list"
        );
        assert!(
            err("images: []\n---\nimages: []\n")
                .starts_with("catalog.yaml:3:1: a second YAML document")
        );
        assert!(err("- a\n").contains("expected a mapping with an \"images\" list, got a list"));
        assert!(err("images: []\n").contains("images: the list is empty"));
        assert!(
            err("images:\n  - nginx\n")
                .contains("images[0]: expected a mapping with name and tags, got \"nginx\"")
        );
    }

    #[test]
    fn log_markers_may_appear_once() {
        let text = "images:\n  - name: a.example/y\n    tags: [v1]\n    logs:\n      - \"on-missing-env: a\"\n      - \"on-missing-env: b\"\n";
        assert!(err(text).contains("images[0].logs[1]: a second \"on-missing-env:\" line"));
    }

    #[test]
    fn parse_ref_handles_hosts_ports_tags_and_digests() {
        let r = parse_ref("nginx");
        assert_eq!(r.repository, "docker.io/library/nginx");
        assert_eq!((r.tag.as_str(), r.explicit_tag), ("latest", false));
        assert_eq!(r.kubelet(), "nginx:latest");
        assert_eq!(r.full(), "docker.io/library/nginx:latest");

        let r = parse_ref("bitnami/redis:7.2");
        assert_eq!(r.repository, "docker.io/bitnami/redis");
        assert_eq!(r.tag, "7.2");

        let r = parse_ref("registry.example.com:5000/shop/api:1.4.1");
        assert_eq!(r.domain, "registry.example.com:5000");
        assert_eq!(r.path, "shop/api");
        assert_eq!(r.tag, "1.4.1");
        assert_eq!(r.registry_host(), "registry.example.com:5000");

        let r = parse_ref("localhost:5000/api");
        assert_eq!(
            (r.domain.as_str(), r.tag.as_str()),
            ("localhost:5000", "latest")
        );

        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let r = parse_ref(&format!("nginx@{d}"));
        assert_eq!(r.digest.as_deref(), Some(d));
        assert!(!r.explicit_tag);
        assert_eq!(r.kubelet(), format!("nginx@{d}"));
        assert_eq!(r.full(), format!("docker.io/library/nginx@{d}"));
        let r = parse_ref(&format!("nginx:1.25@{d}"));
        assert_eq!(r.tag, "1.25");
        assert_eq!(r.full(), format!("docker.io/library/nginx:1.25@{d}"));
        assert_eq!(
            parse_ref("index.docker.io/library/busybox").repository,
            "docker.io/library/busybox"
        );
    }

    #[test]
    fn lookup_matches_short_and_long_names() {
        let c = Catalog::parse(
            "images:\n  - name: docker.io/library/nginx\n    tags: [\"1.25\", latest]\n  - name: busybox\n    tags: [\"1.36\"]\n",
            "c",
        )
        .unwrap();
        assert!(matches!(c.lookup("nginx"), Lookup::Found(_)));
        assert!(matches!(c.lookup("docker.io/nginx:1.25"), Lookup::Found(_)));
        assert!(matches!(c.lookup("nginx:1.99"), Lookup::UnknownTag(_)));
        assert!(matches!(
            c.lookup("docker.io/library/busybox:1.36"),
            Lookup::Found(_)
        ));
        assert!(matches!(c.lookup("busybox"), Lookup::UnknownTag(_)));
        assert!(matches!(c.lookup("ngnix:1.25"), Lookup::UnknownRepository));
        assert!(matches!(c.lookup("nginx@sha256:abc"), Lookup::Found(_)));
    }

    #[test]
    fn find_binary_by_path_or_name() {
        let c = Catalog::parse(
            "images:\n  - name: x.example/a\n    tags: [a]\n    binaries: [/app/server, /bin/sh]\n",
            "c",
        )
        .unwrap();
        let i = &c.images()[0];
        assert_eq!(i.entrypoint(), Some("/app/server"));
        assert_eq!(i.find_binary("/app/server"), Some("/app/server"));
        assert_eq!(i.find_binary("server"), Some("/app/server"));
        assert_eq!(i.find_binary("sh"), Some("/bin/sh"));
        assert_eq!(i.find_binary("/usr/bin/sh"), None);
        assert_eq!(i.find_binary("./app/server"), Some("/app/server"));
        assert_eq!(i.find_binary("/app/servr"), None);
    }
}
