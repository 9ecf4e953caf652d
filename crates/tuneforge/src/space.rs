//! Declarative search spaces (from study files): named distributions with conditions, e.g.
//! `momentum` only when `optimizer = "sgd"`.
//!
//! A parameter is *active* when every condition on it holds; a condition on an inactive parent
//! does not hold. Inactive parameters are never suggested, so they are absent from the trial.

use indexmap::IndexMap;
use std::collections::HashSet;

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::trial::Trial;

/// "Active only when `param` takes one of `values`".
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// The parent parameter.
    pub param: String,
    /// The parent values that activate the child.
    pub values: Vec<ParamValue>,
}

/// One declared parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Name.
    pub name: String,
    /// Where its values come from.
    pub distribution: Distribution,
    /// All must hold for the parameter to be active.
    pub conditions: Vec<Condition>,
}

/// A validated space, parameters ordered so that parents come before their children.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SearchSpace {
    params: Vec<ParamSpec>,
}

impl SearchSpace {
    /// Validates `params` (distributions, condition parents and values, no cycles) and orders
    /// them parents-first, otherwise keeping the declared order.
    pub fn new(params: Vec<ParamSpec>) -> Result<Self> {
        let mut names = HashSet::new();
        for p in &params {
            if p.name.is_empty() {
                return Err(Error::invalid("a parameter needs a non-empty name"));
            }
            if !names.insert(p.name.as_str()) {
                return Err(Error::invalid(format!(
                    "parameter '{}' is declared twice",
                    p.name
                )));
            }
            p.distribution
                .validate()
                .map_err(|e| Error::invalid(format!("parameter '{}': {e}", p.name)))?;
        }
        for p in &params {
            for c in &p.conditions {
                let parent = params.iter().find(|q| q.name == c.param).ok_or_else(|| {
                    Error::invalid(format!(
                        "parameter '{}': its condition names '{}', which is not a parameter",
                        p.name, c.param
                    ))
                })?;
                if c.param == p.name {
                    return Err(Error::invalid(format!(
                        "parameter '{}' cannot be conditional on itself",
                        p.name
                    )));
                }
                if c.values.is_empty() {
                    return Err(Error::invalid(format!(
                        "parameter '{}': its condition on '{}' lists no values",
                        p.name, c.param
                    )));
                }
                for v in &c.values {
                    if !parent.distribution.contains(v) {
                        return Err(Error::invalid(format!(
                            "parameter '{}': condition value {v} can never be taken by '{}' ({})",
                            p.name,
                            c.param,
                            parent.distribution.describe()
                        )));
                    }
                }
            }
        }
        // Parents first (Kahn's algorithm, stable in declaration order).
        let mut ordered: Vec<ParamSpec> = Vec::with_capacity(params.len());
        let mut rest = params;
        while !rest.is_empty() {
            let ready = rest.iter().position(|p| {
                p.conditions
                    .iter()
                    .all(|c| ordered.iter().any(|q| q.name == c.param))
            });
            match ready {
                Some(i) => ordered.push(rest.remove(i)),
                None => {
                    let cyc: Vec<&str> = rest.iter().map(|p| p.name.as_str()).collect();
                    return Err(Error::invalid(format!(
                        "the conditions of parameters {} form a cycle",
                        cyc.join(", ")
                    )));
                }
            }
        }
        Ok(SearchSpace { params: ordered })
    }

    /// The parameters, parents first.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// Looks a parameter up by name.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// True when `spec` is active given the values assigned so far.
    pub fn is_active(spec: &ParamSpec, assigned: &IndexMap<String, ParamValue>) -> bool {
        spec.conditions.iter().all(|c| {
            assigned.get(&c.param).is_some_and(|v| {
                c.values
                    .iter()
                    .any(|w| w == v || w.as_f64().is_some() && w.as_f64() == v.as_f64())
            })
        })
    }

    /// Suggests every active parameter on `trial`, parents first.
    pub fn suggest_all(&self, trial: &mut Trial) -> Result<IndexMap<String, ParamValue>> {
        let mut assigned = IndexMap::new();
        for p in &self.params {
            if Self::is_active(p, &assigned) {
                let v = trial.suggest(&p.name, &p.distribution)?;
                assigned.insert(p.name.clone(), v);
            }
        }
        Ok(assigned)
    }

    /// Every valid assignment of a finite space (inactive parameters left out), for grid search.
    pub fn grid_points(&self) -> Result<Vec<IndexMap<String, ParamValue>>> {
        for p in &self.params {
            if p.distribution.values().is_none() {
                return Err(Error::invalid(format!(
                    "grid search needs every parameter to be finite, but '{}' is a continuous \
                     range ({}): give it a step or use a categorical",
                    p.name,
                    p.distribution.describe()
                )));
            }
        }
        let mut points = vec![IndexMap::new()];
        for p in &self.params {
            let values = p.distribution.values().unwrap_or_default();
            let mut next = Vec::new();
            for point in points {
                if Self::is_active(p, &point) {
                    for v in &values {
                        let mut q = point.clone();
                        q.insert(p.name.clone(), v.clone());
                        next.push(q);
                    }
                } else {
                    next.push(point);
                }
                if next.len() > crate::sampler::grid::MAX_POINTS {
                    return Err(Error::invalid(format!(
                        "the grid has more than {} points",
                        crate::sampler::grid::MAX_POINTS
                    )));
                }
            }
            points = next;
        }
        Ok(points)
    }

    /// Checks a (partial) configuration against the space: known names, values inside their
    /// distributions, no value for a parameter its conditions make inactive.
    pub fn check(&self, params: &IndexMap<String, ParamValue>) -> Result<()> {
        for (k, v) in params {
            let spec = self.get(k).ok_or_else(|| {
                Error::invalid(format!("'{k}' is not a parameter of this search space"))
            })?;
            if !spec.distribution.contains(v) {
                return Err(Error::invalid(format!(
                    "value {v} of '{k}' is outside {}",
                    spec.distribution.describe()
                )));
            }
            let parents_given = spec
                .conditions
                .iter()
                .all(|c| params.contains_key(&c.param));
            if parents_given && !Self::is_active(spec, params) {
                return Err(Error::invalid(format!(
                    "'{k}' is given but its condition makes it inactive for this configuration"
                )));
            }
        }
        Ok(())
    }
}
