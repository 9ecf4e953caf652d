//! Chain spaces: a network as a sequence of layers, each choosing an operator and its options
//! (kernel size, expansion ratio, width, ...), as in MobileNet-style spaces (MnasNet, ProxylessNAS,
//! FBNet). An operator named `skip` makes the layer an identity: its options are then unused.
//!
//! Decisions are `layer{i}_op` and `layer{i}_{option}`. The canonical string lists the layers
//! separated by ` > `, each `op(option=value,...)` or `skip`, e.g.
//! `mbconv(kernel=3,expansion=6,width=32) > skip > conv(kernel=5,expansion=1,width=64)`.
//! Identity: skipped layers are dropped (an identity layer does nothing), so chains that differ
//! only in a skipped layer's options, or in where the skips sit between equal layers, coincide.
//!
//! # References
//! - M. Tan, B. Chen, R. Pang, V. Vasudevan, M. Sandler, A. Howard, Q. V. Le, "MnasNet:
//!   Platform-Aware Neural Architecture Search for Mobile", CVPR 2019 (per-block choices of
//!   convolution, kernel, expansion, skip).

use super::{ArchitectureSpace, Choices, Decision, validate_decisions};
use crate::error::{Error, Result};

/// The operator that makes a layer an identity.
pub const SKIP: &str = "skip";

/// A chain space. See the module documentation.
#[derive(Clone, Debug)]
pub struct ChainSpace {
    layers: usize,
    ops: Vec<String>,
    options: Vec<(String, Vec<String>)>,
    decisions: Vec<Decision>,
}

impl ChainSpace {
    /// `layers` layers, each choosing one of `ops` (include `"skip"` to allow identity layers)
    /// and one value of every option, e.g. `("kernel", ["3", "5", "7"])`.
    pub fn new(
        layers: usize,
        ops: &[impl AsRef<str>],
        options: &[(impl AsRef<str>, Vec<impl AsRef<str>>)],
    ) -> Result<Self> {
        if layers == 0 {
            return Err(Error::invalid("a chain needs at least one layer"));
        }
        let ops: Vec<String> = ops.iter().map(|o| o.as_ref().to_string()).collect();
        let options: Vec<(String, Vec<String>)> = options
            .iter()
            .map(|(n, vs)| {
                (
                    n.as_ref().to_string(),
                    vs.iter().map(|v| v.as_ref().to_string()).collect(),
                )
            })
            .collect();
        let bad = |s: &str| s.is_empty() || s.contains(['(', ')', ',', '=', '>', ' ']);
        for name in ops.iter().chain(
            options
                .iter()
                .flat_map(|(n, vs)| std::iter::once(n).chain(vs.iter())),
        ) {
            if bad(name) {
                return Err(Error::invalid(format!(
                    "chain name or value '{name}' must be non-empty and free of spaces and ( ) , = >"
                )));
            }
        }
        let mut decisions = Vec::new();
        for i in 0..layers {
            decisions.push(Decision::new(format!("layer{i}_op"), &ops));
            for (n, vs) in &options {
                decisions.push(Decision::new(format!("layer{i}_{n}"), vs));
            }
        }
        validate_decisions(&decisions)?;
        Ok(ChainSpace {
            layers,
            ops,
            options,
            decisions,
        })
    }

    /// A MobileNet-style space: `layers` blocks of mbconv/conv/skip, kernel 3/5/7, expansion
    /// 1/3/6 and width multiplier 0.5/0.75/1.0.
    pub fn mobile(layers: usize) -> Result<Self> {
        Self::new(
            layers,
            &["mbconv", "conv", SKIP],
            &[
                ("kernel", vec!["3", "5", "7"]),
                ("expansion", vec!["1", "3", "6"]),
                ("width", vec!["0.5", "0.75", "1.0"]),
            ],
        )
    }

    /// Number of layers.
    pub fn layers(&self) -> usize {
        self.layers
    }

    fn per_layer(&self) -> usize {
        1 + self.options.len()
    }

    fn layer_string(&self, arch: &[usize], i: usize) -> String {
        let base = i * self.per_layer();
        let op = &self.ops[arch[base]];
        if op == SKIP || self.options.is_empty() {
            return op.clone();
        }
        let opts: Vec<String> = self
            .options
            .iter()
            .enumerate()
            .map(|(k, (n, vs))| format!("{n}={}", vs[arch[base + 1 + k]]))
            .collect();
        format!("{op}({})", opts.join(","))
    }
}

impl ArchitectureSpace for ChainSpace {
    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn format(&self, arch: &[usize]) -> String {
        (0..self.layers)
            .map(|i| self.layer_string(arch, i))
            .collect::<Vec<_>>()
            .join(" > ")
    }

    fn parse(&self, text: &str) -> Result<Choices> {
        let bad = |why: String| Error::invalid(format!("chain '{text}': {why}"));
        let layers: Vec<&str> = text.split('>').map(str::trim).collect();
        if layers.len() != self.layers {
            return Err(bad(format!(
                "{} layers listed, the space has {}",
                layers.len(),
                self.layers
            )));
        }
        let mut arch = Vec::with_capacity(self.decisions.len());
        for layer in layers {
            let (op, rest) = match layer.split_once('(') {
                Some((op, rest)) => (
                    op,
                    Some(
                        rest.strip_suffix(')')
                            .ok_or_else(|| bad(format!("'{layer}' lacks its ')'")))?,
                    ),
                ),
                None => (layer, None),
            };
            let o = self
                .ops
                .iter()
                .position(|x| x == op)
                .ok_or_else(|| bad(format!("'{op}' is not an operator of this space")))?;
            arch.push(o);
            if op == SKIP || self.options.is_empty() {
                if rest.is_some() {
                    return Err(bad(format!("'{op}' takes no options")));
                }
                // The options of a skipped layer are unused: the first value stands for them.
                arch.extend(std::iter::repeat_n(0, self.options.len()));
                continue;
            }
            let given: Vec<&str> = rest
                .ok_or_else(|| bad(format!("'{op}' needs its options in parentheses")))?
                .split(',')
                .collect();
            if given.len() != self.options.len() {
                return Err(bad(format!(
                    "'{layer}' gives {} options, the space has {}",
                    given.len(),
                    self.options.len()
                )));
            }
            for ((name, values), g) in self.options.iter().zip(given) {
                let (n, v) = g
                    .split_once('=')
                    .ok_or_else(|| bad(format!("'{g}' is not 'option=value'")))?;
                if n != name {
                    return Err(bad(format!("expected option '{name}', found '{n}'")));
                }
                arch.push(values.iter().position(|x| x == v).ok_or_else(|| {
                    bad(format!(
                        "'{v}' is not a value of '{name}' ({})",
                        values.join(", ")
                    ))
                })?);
            }
        }
        Ok(arch)
    }

    fn identity(&self, arch: &[usize]) -> String {
        let kept: Vec<String> = (0..self.layers)
            .map(|i| self.layer_string(arch, i))
            .filter(|l| l != SKIP)
            .collect();
        if kept.is_empty() {
            "identity".to_string()
        } else {
            kept.join(" > ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn canonical_strings_round_trip_up_to_unused_options() {
        let s = ChainSpace::mobile(4).unwrap();
        let text = "mbconv(kernel=3,expansion=6,width=1.0) > skip > conv(kernel=5,expansion=1,width=0.5) > skip";
        let arch = s.parse(text).unwrap();
        assert_eq!(s.format(&arch), text);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for _ in 0..300 {
            let a = s.random(&mut rng);
            let b = s.parse(&s.format(&a)).unwrap();
            assert_eq!(s.format(&b), s.format(&a));
            assert_eq!(s.identity(&b), s.identity(&a));
            assert_eq!(s.arch_of(&s.params_of(&a)).unwrap(), a);
        }
    }

    #[test]
    fn skipped_layers_do_not_change_the_identity() {
        let s = ChainSpace::mobile(3).unwrap();
        let a = s
            .parse("conv(kernel=3,expansion=1,width=0.5) > skip > skip")
            .unwrap();
        let b = s
            .parse("skip > conv(kernel=3,expansion=1,width=0.5) > skip")
            .unwrap();
        let mut c = a.clone();
        c[5] = 2; // layer 1's kernel, unused while layer 1 is skipped
        assert_ne!(s.format(&a), s.format(&b));
        assert_eq!(s.identity(&a), s.identity(&b));
        assert_eq!(s.identity(&a), s.identity(&c));
        let d = s
            .parse("conv(kernel=5,expansion=1,width=0.5) > skip > skip")
            .unwrap();
        assert_ne!(s.identity(&a), s.identity(&d));
    }

    #[test]
    fn malformed_chains_are_refused() {
        let s = ChainSpace::mobile(2).unwrap();
        for (text, why) in [
            ("skip", "1 layers listed"),
            ("skip > pool", "'pool' is not an operator"),
            ("skip > conv", "needs its options"),
            ("skip > conv(kernel=3,width=1.0)", "gives 2 options"),
            (
                "skip > conv(kernel=4,expansion=1,width=1.0)",
                "'4' is not a value",
            ),
            (
                "skip > conv(width=1.0,expansion=1,kernel=3)",
                "expected option 'kernel'",
            ),
            ("skip(kernel=3) > skip", "takes no options"),
        ] {
            let e = s.parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
        assert!(ChainSpace::new(0, &["a"], &[("k", vec!["1"])]).is_err());
        assert!(ChainSpace::new(2, &["a b"], &[("k", vec!["1"])]).is_err());
    }
}
