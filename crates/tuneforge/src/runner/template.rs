//! Command templates: `train.py --lr {lr} --batch-size {batch_size}`.
//!
//! Placeholders: `{NAME}` for a parameter; `{trial}` (number), `{seed}`, `{workdir}`, `{study}`,
//! `{params_json}`, `{budget}` (the resource to run to), `{resume}` (the directory of the trial a
//! promoted trial continues; empty otherwise), `{arch}` (the canonical string of the architecture
//! when the study declares one); and `{args}`, alone in its argument, which expands to `--NAME=VALUE` for every
//! active parameter. `{{` and `}}` are literal braces. An argument naming a parameter that is
//! inactive in this trial (a conditional one) is left out, so write `--momentum={momentum}` as one
//! argument to drop the flag with its value.

use indexmap::IndexMap;

use crate::distribution::ParamValue;

/// Built-in placeholders.
pub const BUILTINS: [&str; 9] = [
    "trial",
    "seed",
    "workdir",
    "study",
    "params_json",
    "args",
    "budget",
    "resume",
    "arch",
];

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Lit(String),
    Param(String),
    Builtin(String),
}

/// A parsed command template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    args: Vec<Vec<Piece>>,
}

/// The per-trial values of the built-in placeholders.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Trial number.
    pub trial: u64,
    /// Trial seed.
    pub seed: u64,
    /// Per-trial working directory.
    pub workdir: String,
    /// Study name.
    pub study: String,
    /// The resource the trial should run to (the study's `max_resource`, or the trial's own
    /// budget under a promotion schedule), when declared.
    pub budget: Option<u64>,
    /// The directory of the trial this one continues (promotion schedules), if any.
    pub resume: Option<String>,
    /// The architecture's canonical string, when the study declares one.
    pub arch: Option<String>,
}

impl Template {
    /// Whether the template uses placeholder `name`.
    pub fn uses(&self, name: &str) -> bool {
        self.args.iter().flatten().any(|p| match p {
            Piece::Param(n) | Piece::Builtin(n) => n == name,
            Piece::Lit(_) => false,
        })
    }

    /// Parses `args`; every placeholder must be a parameter in `names` or a built-in.
    pub fn parse(args: &[String], names: &[&str]) -> Result<Template, String> {
        Self::parse_with_resource(args, names, None)
    }

    /// [`Template::parse`], where `{resource}` (the study's name for its fidelity resource,
    /// e.g. `epoch`) is another name for `{budget}`.
    pub fn parse_with_resource(
        args: &[String],
        names: &[&str],
        resource: Option<&str>,
    ) -> Result<Template, String> {
        let mut out = Vec::new();
        for arg in args {
            let mut pieces = Vec::new();
            let mut lit = String::new();
            let mut chars = arg.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '{' if chars.peek() == Some(&'{') => {
                        chars.next();
                        lit.push('{');
                    }
                    '}' if chars.peek() == Some(&'}') => {
                        chars.next();
                        lit.push('}');
                    }
                    '{' => {
                        let mut name = String::new();
                        let mut closed = false;
                        for d in chars.by_ref() {
                            if d == '}' {
                                closed = true;
                                break;
                            }
                            name.push(d);
                        }
                        if !closed {
                            return Err(format!("unclosed '{{' in argument '{arg}'"));
                        }
                        if !lit.is_empty() {
                            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                        }
                        if names.contains(&name.as_str()) {
                            pieces.push(Piece::Param(name));
                        } else if resource == Some(name.as_str()) {
                            pieces.push(Piece::Builtin("budget".into()));
                        } else if BUILTINS.contains(&name.as_str()) {
                            if name == "args" && (arg != "{args}") {
                                return Err("{args} must be an argument of its own".into());
                            }
                            pieces.push(Piece::Builtin(name));
                        } else {
                            return Err(format!(
                                "unknown placeholder {{{name}}}: parameters are {}; built-ins are {}{}",
                                if names.is_empty() {
                                    "(none)".to_string()
                                } else {
                                    names.join(", ")
                                },
                                BUILTINS.join(", "),
                                resource.map(|r| format!(", {r}")).unwrap_or_default()
                            ));
                        }
                    }
                    '}' => {
                        return Err(format!(
                            "unmatched '}}' in argument '{arg}' (write }}}} for a brace)"
                        ));
                    }
                    c => lit.push(c),
                }
            }
            if !lit.is_empty() || pieces.is_empty() {
                pieces.push(Piece::Lit(lit));
            }
            out.push(pieces);
        }
        Ok(Template { args: out })
    }

    /// Expands the template for one trial's parameters.
    pub fn expand(&self, params: &IndexMap<String, ParamValue>, ctx: &Context) -> Vec<String> {
        let mut argv = Vec::new();
        'arg: for pieces in &self.args {
            if pieces == &[Piece::Builtin("args".into())] {
                for (k, v) in params {
                    argv.push(format!("--{k}={v}"));
                }
                continue;
            }
            let mut s = String::new();
            for p in pieces {
                match p {
                    Piece::Lit(l) => s.push_str(l),
                    Piece::Param(name) => match params.get(name) {
                        Some(v) => s.push_str(&v.to_string()),
                        None => continue 'arg,
                    },
                    Piece::Builtin(b) => s.push_str(&match b.as_str() {
                        "trial" => ctx.trial.to_string(),
                        "seed" => ctx.seed.to_string(),
                        "workdir" => ctx.workdir.clone(),
                        "study" => ctx.study.clone(),
                        "budget" => ctx.budget.map(|b| b.to_string()).unwrap_or_default(),
                        "resume" => ctx.resume.clone().unwrap_or_default(),
                        "arch" => ctx.arch.clone().unwrap_or_default(),
                        _ => params_json(params),
                    }),
                }
            }
            argv.push(s);
        }
        argv
    }
}

/// The parameters as a JSON object.
pub fn params_json(params: &IndexMap<String, ParamValue>) -> String {
    let m: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    serde_json::Value::Object(m).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, names: &[&str]) -> Result<Template, String> {
        Template::parse(&shlex::split(s).unwrap(), names)
    }

    #[test]
    fn budget_is_the_resource_to_run_to() {
        let tpl = t("train --epochs={budget}", &[]).unwrap();
        assert!(tpl.uses("budget") && !tpl.uses("seed"));
        let ctx = Context {
            budget: Some(27),
            ..Default::default()
        };
        assert_eq!(
            tpl.expand(&IndexMap::new(), &ctx),
            vec!["train", "--epochs=27"]
        );
    }

    #[test]
    fn expands_params_builtins_and_drops_inactive_arguments() {
        let tpl = t(
            "python train.py --lr {lr} --opt {opt} --momentum={momentum} --seed {seed} {args} {{x}} --arch={arch}",
            &["lr", "opt", "momentum"],
        )
        .unwrap();
        let mut p = IndexMap::new();
        p.insert("lr".to_string(), ParamValue::Float(1e-6));
        p.insert("opt".to_string(), ParamValue::from("adam"));
        let ctx = Context {
            trial: 3,
            seed: 99,
            workdir: "/w".into(),
            study: "s".into(),
            budget: Some(27),
            resume: None,
            arch: Some("|skip_connect~0|".into()),
        };
        assert_eq!(
            tpl.expand(&p, &ctx),
            vec![
                "python",
                "train.py",
                "--lr",
                "1e-6",
                "--opt",
                "adam",
                "--seed",
                "99",
                "--lr=1e-6",
                "--opt=adam",
                "{x}",
                "--arch=|skip_connect~0|"
            ]
        );
    }

    #[test]
    fn unknown_or_broken_placeholders_are_errors() {
        let e = t("run --lr {lrr}", &["lr"]).unwrap_err();
        assert!(
            e.contains("unknown placeholder {lrr}") && e.contains("lr"),
            "{e}"
        );
        assert!(t("run {lr", &["lr"]).unwrap_err().contains("unclosed"));
        assert!(t("run lr}", &["lr"]).unwrap_err().contains("unmatched"));
        assert!(t("run x{args}", &[]).unwrap_err().contains("of its own"));
    }
}
