//! `leadscore serve --config FILE`: the service's settings from a TOML file.
//!
//! Operations teams keep a server's settings in a reviewed file next to its model, and
//! override one or two per host in the environment or on the command line. So the
//! file's keys are exactly the long flag names of `serve` (`db`, `listen`, `tick`,
//! ...; `_` may stand for `-`), a value is a string, number or boolean, and a
//! repeatable flag takes an array. **Precedence**: a flag on the command line, then
//! its environment variable, then the file, then the built-in default. An unknown key
//! is an error naming the file and line, so a typo never silently does nothing.
//!
//! It works by rewriting the argument list before clap parses it: every setting of
//! the file that neither the command line nor the environment gives becomes
//! `--key=value`. clap then validates the values as if they had been typed, with the
//! same messages.

use std::ffi::OsString;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{ArgAction, Command};

/// The argument list with the settings of the `serve` config file (from `--config`
/// or `LEADSCORE_CONFIG`) appended; unchanged for other commands or without a file.
pub fn apply(args: Vec<OsString>, cli: &Command) -> Result<Vec<OsString>> {
    if args.get(1).and_then(|a| a.to_str()) != Some("serve") {
        return Ok(args);
    }
    let Some(serve) = cli.find_subcommand("serve") else {
        return Ok(args);
    };
    let Some(path) = config_path(&args) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read the config file", path.display()))?;
    let extra = settings(&path, &text, serve, &args)?;
    let mut args = args;
    args.extend(extra);
    Ok(args)
}

/// `--config FILE`, `--config=FILE`, or `LEADSCORE_CONFIG`.
fn config_path(args: &[OsString]) -> Option<std::path::PathBuf> {
    let mut iter = args.iter().skip(2);
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if text == "--config" {
            return iter.next().map(Into::into);
        }
        if let Some(value) = text.strip_prefix("--config=") {
            return Some(value.into());
        }
    }
    std::env::var_os("LEADSCORE_CONFIG")
        .filter(|v| !v.is_empty())
        .map(Into::into)
}

/// The 1-based line where `key` is set in `text` (for error messages).
fn line_of(text: &str, key: &str) -> usize {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            line.strip_prefix(key)
                .or_else(|| {
                    line.strip_prefix('"')
                        .and_then(|l| l.strip_prefix(key))
                        .and_then(|l| l.strip_prefix('"'))
                })
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}

/// The `--key=value` arguments the file adds.
fn settings(path: &Path, text: &str, serve: &Command, args: &[OsString]) -> Result<Vec<OsString>> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        anyhow::anyhow!("{}: not a valid TOML config file: {e}", path.display())
    })?;
    let known: Vec<&clap::Arg> = serve
        .get_arguments()
        .filter(|a| a.get_long().is_some_and(|l| l != "config" && l != "help"))
        .collect();
    let mut extra = Vec::new();
    for (key, value) in &table {
        let name = key.replace('_', "-");
        let Some(arg) = known.iter().find(|a| a.get_long() == Some(name.as_str())) else {
            let names: Vec<&str> = known.iter().filter_map(|a| a.get_long()).collect();
            bail!(
                "{}:{}: unknown setting `{key}` (known: {})",
                path.display(),
                line_of(text, key),
                names.join(", ")
            );
        };
        let flag = format!("--{name}");
        let on_command_line = args.iter().skip(2).any(|a| {
            let a = a.to_string_lossy();
            a == flag || a.starts_with(&format!("{flag}="))
        });
        let in_environment = arg
            .get_env()
            .is_some_and(|env| std::env::var_os(env).is_some_and(|v| !v.is_empty()));
        if on_command_line || in_environment {
            continue;
        }
        let where_ = || format!("{}:{}", path.display(), line_of(text, key));
        match (arg.get_action(), value) {
            (ArgAction::SetTrue, toml::Value::Boolean(on)) => {
                if *on {
                    extra.push(OsString::from(&flag));
                }
            }
            (ArgAction::SetTrue, _) => {
                bail!("{}: `{key}` is true or false", where_())
            }
            (ArgAction::Append, toml::Value::Array(items)) => {
                for item in items {
                    extra.push(OsString::from(format!(
                        "{flag}={}",
                        scalar(item, key, &where_)?
                    )));
                }
            }
            (_, toml::Value::Array(_)) => {
                bail!("{}: `{key}` takes one value, not a list", where_())
            }
            (_, value) => {
                extra.push(OsString::from(format!(
                    "{flag}={}",
                    scalar(value, key, &where_)?
                )));
            }
        }
    }
    Ok(extra)
}

/// A string, number or boolean as the text a flag would take.
fn scalar(value: &toml::Value, key: &str, where_: &dyn Fn() -> String) -> Result<String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!(
            "{}: `{key}` is a string, number or boolean, not a table or date",
            where_()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve() -> Command {
        Command::new("serve")
            .arg(
                clap::Arg::new("db")
                    .long("db")
                    .env("LEADSCORE_TEST_CONFIG_DB"),
            )
            .arg(clap::Arg::new("tick").long("tick"))
            .arg(
                clap::Arg::new("allow-webhook-host")
                    .long("allow-webhook-host")
                    .action(ArgAction::Append),
            )
            .arg(
                clap::Arg::new("quiet")
                    .long("quiet")
                    .action(ArgAction::SetTrue),
            )
            .arg(clap::Arg::new("config").long("config"))
    }

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn strings(list: Vec<OsString>) -> Vec<String> {
        list.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn file_settings_become_flags_unless_the_command_line_gives_them() {
        let text =
            "db = \"sqlite://x.db\"\ntick = 5\nallow_webhook_host = [\"a\", \"b\"]\nquiet = true\n";
        let got = settings(
            Path::new("leadscore.toml"),
            text,
            &serve(),
            &args(&["leadscore", "serve", "--tick", "7"]),
        )
        .unwrap();
        assert_eq!(
            strings(got),
            [
                "--allow-webhook-host=a",
                "--allow-webhook-host=b",
                "--db=sqlite://x.db",
                "--quiet"
            ]
        );
    }

    #[test]
    fn an_unknown_key_names_the_file_and_line() {
        let error = settings(
            Path::new("leadscore.toml"),
            "db = \"x\"\n\nlistn = \"127.0.0.1:1\"\n",
            &serve(),
            &args(&["leadscore", "serve"]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "leadscore.toml:3: unknown setting `listn` (known: db, tick, allow-webhook-host, quiet)"
        );
    }

    #[test]
    fn a_list_for_a_single_value_flag_is_refused() {
        let error = settings(
            Path::new("c.toml"),
            "tick = [1, 2]\n",
            &serve(),
            &args(&["leadscore", "serve"]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(error, "c.toml:1: `tick` takes one value, not a list");
    }

    #[test]
    fn the_config_path_comes_from_the_flag_before_the_environment() {
        assert_eq!(
            config_path(&args(&["leadscore", "serve", "--config=a.toml"])),
            Some("a.toml".into())
        );
        assert_eq!(
            config_path(&args(&[
                "leadscore",
                "serve",
                "--db",
                "x",
                "--config",
                "b.toml"
            ])),
            Some("b.toml".into())
        );
    }
}
