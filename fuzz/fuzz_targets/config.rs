//! TOML and environment configuration: parsing and validation never panic;
//! a configuration that is accepted serialises back to TOML that parses to
//! the same configuration; every rejection is a typed error.
#![no_main]

use aureus_observability::{Config, Error};
use libfuzzer_sys::fuzz_target;


fuzz_target!(|data: &[u8]| {
    // TOML text, then (after a 0xFF byte) environment lines `<index byte><value>`.
    let mut parts = data.splitn(2, |b| *b == 0xFF);
    let toml_text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    let env_part = parts.next().unwrap_or_default();

    let mut config = match Config::from_toml_str(&toml_text) {
        Ok(config) => {
            // What it accepted, written back, is accepted again unchanged.
            if let Ok(written) = toml::to_string(&config) {
                let again = Config::from_toml_str(&written)
                    .unwrap_or_else(|err| panic!("accepted config does not round-trip: {err}\n{written}"));
                assert_eq!(again, config, "{written}");
            }
            config
        }
        Err(err) => {
            assert!(
                matches!(err, Error::ConfigFile { .. } | Error::InvalidConfig { .. }),
                "{err:?}"
            );
            Config::default()
        }
    };

    let variables = aureus_observability::fuzzing::env_variables();
    let vars: Vec<(&str, String)> = env_part
        .split(|b| *b == b'\n')
        .filter_map(|line| {
            let (&index, value) = line.split_first()?;
            let name = variables[usize::from(index) % variables.len()];
            Some((name, String::from_utf8_lossy(value).into_owned()))
        })
        .collect();
    if let Err(err) = config.apply_env(vars) {
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message:?}");
    }
});
