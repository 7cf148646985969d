//! The server's configuration file (`--config FILE`): the organisations,
//! the namespaces each may see and which roles may apply fixes, and the
//! per-token rate limit. Without a file: one org, `default`, that sees every
//! namespace, fixes by admins only.

use podmirror_store::Role;
use serde::Deserialize;

/// One organisation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Org {
    /// Its name (tokens carry it).
    pub name: String,
    /// The namespaces it sees; `*` for all.
    #[serde(default = "all_namespaces")]
    pub namespaces: Vec<String>,
    /// The roles that may apply fixes to live workloads (default: admin).
    #[serde(default = "admins", deserialize_with = "roles")]
    pub fix_roles: Vec<Role>,
}

fn all_namespaces() -> Vec<String> {
    vec!["*".into()]
}

fn admins() -> Vec<Role> {
    vec![Role::Admin]
}

fn roles<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Role>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    names
        .iter()
        .map(|n| Role::parse(n).map_err(serde::de::Error::custom))
        .collect()
}

impl Org {
    /// Whether the org sees namespace `ns`.
    pub fn sees(&self, ns: &str) -> bool {
        self.namespaces.iter().any(|n| n == "*" || n == ns)
    }

    /// Whether a token of `role` in this org may apply fixes.
    pub fn may_apply_fixes(&self, role: Role) -> bool {
        self.fix_roles.contains(&role)
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The organisations.
    #[serde(default = "one_org")]
    pub orgs: Vec<Org>,
    /// Requests per minute each token may make (default 600).
    #[serde(default = "default_rate")]
    pub rate_limit_per_minute: u32,
    /// The mirror TTL until an admin sets another (30–3600, default 180).
    #[serde(default = "default_ttl")]
    pub mirror_ttl_seconds: u64,
    /// The LLM section, read by `podmirror-ai`.
    #[serde(default)]
    pub llm: Option<serde::de::IgnoredAny>,
    /// Seconds every container of a mirror must stay ready without a
    /// restart before its verdict is Healthy (default 30).
    #[serde(default = "default_settle")]
    pub mirror_settle_seconds: f64,
    /// The cluster's name as the dashboard shows it (default: the
    /// kubeconfig context, or `in-cluster`).
    #[serde(default)]
    pub cluster_name: Option<String>,
}

fn one_org() -> Vec<Org> {
    vec![Org {
        name: "default".into(),
        namespaces: all_namespaces(),
        fix_roles: admins(),
    }]
}

fn default_rate() -> u32 {
    600
}

fn default_settle() -> f64 {
    30.0
}

fn default_ttl() -> u64 {
    crate::DEFAULT_TTL
}

impl Default for Config {
    fn default() -> Config {
        Config {
            orgs: one_org(),
            rate_limit_per_minute: default_rate(),
            mirror_ttl_seconds: default_ttl(),
            llm: None,
            mirror_settle_seconds: default_settle(),
            cluster_name: None,
        }
    }
}

impl Config {
    /// Reads a config file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, String> {
        let config: Config = serde_saphyr::from_str(text).map_err(|e| format!("{file}: {e}"))?;
        if !(0.0..=3600.0).contains(&config.mirror_settle_seconds) {
            return Err(format!(
                "{file}: mirror_settle_seconds {} is outside 0..3600",
                config.mirror_settle_seconds
            ));
        }
        if config.orgs.is_empty() {
            return Err(format!("{file}: orgs is empty; name at least one org"));
        }
        let mut names: Vec<&str> = config.orgs.iter().map(|o| o.name.as_str()).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("{file}: org {:?} is named twice", w[0]));
        }
        if !(crate::MIN_TTL..=crate::MAX_TTL).contains(&config.mirror_ttl_seconds) {
            return Err(format!(
                "{file}: mirror_ttl_seconds {} is outside {}..{}",
                config.mirror_ttl_seconds,
                crate::MIN_TTL,
                crate::MAX_TTL
            ));
        }
        if config.rate_limit_per_minute == 0 {
            return Err(format!("{file}: rate_limit_per_minute must be at least 1"));
        }
        Ok(config)
    }

    /// The org of that name.
    pub fn org(&self, name: &str) -> Option<&Org> {
        self.orgs.iter().find(|o| o.name == name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn orgs_namespaces_and_fix_roles_are_read_with_defaults() {
        let c = Config::parse(
            "orgs:\n  - name: acme\n    namespaces: [shop]\n    fix_roles: [admin, write]\n  - name: globex\nllm:\n  url: http://x\n",
            "c.yaml",
        )
        .unwrap();
        let acme = c.org("acme").unwrap();
        assert!(acme.sees("shop") && !acme.sees("billing"));
        assert!(acme.may_apply_fixes(Role::Write) && !acme.may_apply_fixes(Role::Read));
        let globex = c.org("globex").unwrap();
        assert!(globex.sees("anything") && !globex.may_apply_fixes(Role::Write));
        assert_eq!(c.rate_limit_per_minute, 600);
        assert_eq!(Config::default().orgs[0].name, "default");
    }

    #[test]
    fn mistakes_name_the_file_and_the_field() {
        for (text, says) in [
            ("orgs: []\n", "orgs is empty"),
            ("orgs:\n  - name: a\n  - name: a\n", "named twice"),
            ("orgs:\n  - name: a\n    fix_roles: [root]\n", "root"),
            ("orgz: []\n", "orgz"),
            ("mirror_ttl_seconds: 5\n", "outside 30..3600"),
        ] {
            let e = Config::parse(text, "c.yaml").unwrap_err();
            assert!(e.starts_with("c.yaml") && e.contains(says), "{e}");
        }
    }
}
