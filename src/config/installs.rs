//! `[installs]`: the keys that encrypt installation tokens at rest (see [`crate::install`]).

use switchboard_core::{Env, Error, ErrorKind, Result, Secret};

use crate::install::KeyRing;

/// `[installs]`: `keys = ["${SWITCHBOARD_INSTALL_KEY}", "${OLD_INSTALL_KEY}"]`, each 32 bytes
/// in hex or base64; the first encrypts, all decrypt. `Debug` prints `***` for each key.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InstallsConfig {
    /// The keys, the encrypting one first.
    pub keys: Vec<Secret>,
}

impl InstallsConfig {
    /// A configuration with these keys (checked by [`key_ring`](Self::key_ring)).
    pub fn new(keys: Vec<Secret>) -> Self {
        InstallsConfig { keys }
    }

    /// The key ring.
    ///
    /// # Errors
    ///
    /// `InvalidConfig` naming `installs.keys[i]` (see [`KeyRing::new`]).
    pub fn key_ring(&self) -> Result<KeyRing> {
        let keys: Vec<&str> = self.keys.iter().map(Secret::expose).collect();
        KeyRing::new(&keys)
    }
}

/// Reads `[installs]`, substituting `${ENV}` in each key from `env`, and checks the keys.
pub(crate) fn installs_from(v: &toml::Value, env: &Env) -> Result<InstallsConfig> {
    let invalid = |m: String| Error::new(ErrorKind::InvalidConfig, m);
    let table = v
        .as_table()
        .ok_or_else(|| invalid("installs: must be a table".to_owned()))?;
    if let Some(k) = table.keys().find(|k| k.as_str() != "keys") {
        return Err(invalid(format!(
            "installs: unknown key '{k}' (known keys: keys)"
        )));
    }
    let Some(list) = table.get("keys").and_then(toml::Value::as_array) else {
        return Err(invalid(
            "installs.keys: give a list of keys, e.g. [\"${SWITCHBOARD_INSTALL_KEY}\"]".to_owned(),
        ));
    };
    let mut keys = Vec::with_capacity(list.len());
    for (i, k) in list.iter().enumerate() {
        let text = k
            .as_str()
            .ok_or_else(|| invalid(format!("installs.keys[{i}]: must be a string")))?;
        let value = env
            .substitute(text)
            .map_err(|e| invalid(format!("installs.keys[{i}]: {e}")))?;
        keys.push(Secret::new(value));
    }
    let config = InstallsConfig { keys };
    config.key_ring()?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn parse(text: &str, env: &Env) -> Result<InstallsConfig> {
        let doc: toml::Table = text.parse().unwrap();
        installs_from(doc.get("installs").unwrap(), env)
    }

    #[test]
    fn keys_come_from_the_environment_and_are_checked() {
        let env = Env::from_pairs([("NEW", K), ("SHORT", "c2hvcnQ=")]);
        let c = parse("[installs]\nkeys = [\"${NEW}\"]", &env).unwrap();
        assert_eq!(c.key_ring().unwrap().ids().len(), 1);
        assert!(!format!("{c:?}").contains(K));
        for (text, says) in [
            ("[installs]\nkeys = [\"${MISSING}\"]", "installs.keys[0]"),
            ("[installs]\nkeys = [\"${SHORT}\"]", "5 bytes"),
            ("[installs]\nkeys = []", "at least one"),
            ("[installs]\nkey = [\"x\"]", "unknown key 'key'"),
            ("[installs]", "installs.keys: give a list"),
        ] {
            let e = parse(text, &env).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
