//! User-defined architecture spaces: any list of named decisions (declared in a study file's
//! `[architecture]` table or built in Rust). The canonical string is `name=value` pairs joined
//! by `,` in decision order; the identity is the string itself.

use super::{ArchitectureSpace, Choices, Decision, validate_decisions};
use crate::error::{Error, Result};

/// A space of named decisions. See the module documentation.
#[derive(Clone, Debug)]
pub struct DecisionSpace {
    decisions: Vec<Decision>,
}

impl DecisionSpace {
    /// A space over `decisions` (unique names; values free of `,` and `=`).
    pub fn new(decisions: Vec<Decision>) -> Result<Self> {
        validate_decisions(&decisions)?;
        for d in &decisions {
            for s in std::iter::once(&d.name).chain(&d.choices) {
                if s.contains([',', '=']) {
                    return Err(Error::invalid(format!(
                        "decision name or choice '{s}' must not contain ',' or '='"
                    )));
                }
            }
        }
        Ok(DecisionSpace { decisions })
    }
}

impl ArchitectureSpace for DecisionSpace {
    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn format(&self, arch: &[usize]) -> String {
        self.decisions
            .iter()
            .zip(arch)
            .map(|(d, &i)| format!("{}={}", d.name, d.choices[i]))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn parse(&self, text: &str) -> Result<Choices> {
        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() != self.decisions.len() {
            return Err(Error::invalid(format!(
                "architecture '{text}' has {} decisions, the space has {}",
                parts.len(),
                self.decisions.len()
            )));
        }
        self.decisions
            .iter()
            .zip(parts)
            .map(|(d, p)| {
                let (n, v) = p.split_once('=').ok_or_else(|| {
                    Error::invalid(format!("'{p}' in architecture '{text}' is not name=value"))
                })?;
                if n.trim() != d.name {
                    return Err(Error::invalid(format!(
                        "architecture '{text}': expected decision '{}', found '{n}'",
                        d.name
                    )));
                }
                d.choices
                    .iter()
                    .position(|c| c == v.trim())
                    .ok_or_else(|| Error::invalid(format!("'{v}' is not a choice of '{}'", d.name)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let s = DecisionSpace::new(vec![
            Decision::new("act", &["relu", "gelu"]),
            Decision::new("depth", &["2", "4", "8"]),
        ])
        .unwrap();
        let a = s.parse("act=gelu,depth=8").unwrap();
        assert_eq!(a, vec![1, 2]);
        assert_eq!(s.format(&a), "act=gelu,depth=8");
        assert!(s.parse("act=gelu").is_err());
        assert!(s.parse("depth=8,act=gelu").is_err());
        assert!(s.parse("act=tanh,depth=8").is_err());
        assert!(DecisionSpace::new(vec![Decision::new("a", &["x,y"])]).is_err());
        assert!(DecisionSpace::new(vec![Decision::new("a", &[] as &[&str])]).is_err());
        assert!(DecisionSpace::new(vec![]).is_err());
    }
}
