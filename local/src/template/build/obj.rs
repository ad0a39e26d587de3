//! `Obj`: a resolved JSON map of template properties with its location, read strictly
//! (unknown keys, wrong types and out-of-range numbers are errors that name the property).

use super::super::resolve::{Loc, scalar_string};
use super::*;
use serde_json::Value as J;

/// A resolved JSON map with its location, for typed and strict access.
pub(super) struct Obj<'j> {
    pub(super) map: &'j serde_json::Map<String, J>,
    pub(super) loc: Loc,
}

impl<'j> Obj<'j> {
    pub(super) fn of(v: &'j J, loc: Loc) -> Result<Obj<'j>, TemplateError> {
        match v {
            J::Object(map) => Ok(Obj { map, loc }),
            _ => Err(loc.err("must be a map")),
        }
    }

    pub(super) fn check(&self, allowed: &[&str]) -> Result<(), TemplateError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(self.loc.key(k).err(NOT_SUPPORTED)),
            None => Ok(()),
        }
    }

    pub(super) fn get(&self, k: &str) -> Option<&'j J> {
        self.map.get(k)
    }

    pub(super) fn str(&self, k: &str) -> Result<Option<String>, TemplateError> {
        self.get(k)
            .map(|v| scalar_string(v, &self.loc.key(k)))
            .transpose()
    }

    pub(super) fn req_str(&self, k: &str) -> Result<String, TemplateError> {
        self.str(k)?
            .ok_or_else(|| self.loc.key(k).err("missing (required)"))
    }

    pub(super) fn int(&self, k: &str, lo: i64, hi: i64) -> Result<Option<i64>, TemplateError> {
        let loc = self.loc.key(k);
        let Some(v) = self.get(k) else {
            return Ok(None);
        };
        let n = match v {
            J::Number(n) => n.as_i64(),
            J::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| loc.err("must be an integer"))?;
        if n < lo || n > hi {
            return Err(loc.err(format!("{n} is out of range {lo}..={hi}")));
        }
        Ok(Some(n))
    }

    pub(super) fn uint(&self, k: &str, lo: u32, hi: u32) -> Result<Option<u32>, TemplateError> {
        // In range, so the conversion cannot fail.
        Ok(self
            .int(k, lo.into(), hi.into())?
            .map(|n| u32::try_from(n).unwrap_or(hi)))
    }

    pub(super) fn bool(&self, k: &str) -> Result<Option<bool>, TemplateError> {
        match self.get(k) {
            None => Ok(None),
            Some(J::Bool(b)) => Ok(Some(*b)),
            Some(J::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(J::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(self.loc.key(k).err("must be true or false")),
        }
    }

    pub(super) fn obj(&self, k: &str) -> Result<Option<Obj<'j>>, TemplateError> {
        self.get(k).map(|v| Obj::of(v, self.loc.key(k))).transpose()
    }

    pub(super) fn list(&self, k: &str) -> Result<Option<&'j Vec<J>>, TemplateError> {
        match self.get(k) {
            None => Ok(None),
            Some(J::Array(a)) => Ok(Some(a)),
            Some(_) => Err(self.loc.key(k).err("must be a list")),
        }
    }
}
