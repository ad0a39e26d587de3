//! The orders service's own view of who is a member, fed by the memberships service's
//! events, with no AWS types.
//!
//! One entry per (customer, membership). The events of one membership can arrive in any
//! order and more than once, so each entry only ever moves forward: nothing → `ACTIVE` →
//! `CANCELED`, or nothing → `CANCELED` (a cancel that arrives before its sign-up leaves a
//! tombstone, and the late sign-up finds it and changes nothing). A customer who cancels
//! and joins again gets a new membership id, so a new entry, `ACTIVE`.

use eventmart_shared::events::{
    CustomerId, MemberDiscount, MembershipCanceled, MembershipId, MembershipSignedUp, Plan,
};
use serde::{Deserialize, Serialize};

/// Where a membership is, as far as orders knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViewStatus {
    Active,
    Canceled,
}

impl ViewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ViewStatus::Active => "ACTIVE",
            ViewStatus::Canceled => "CANCELED",
        }
    }
}

/// One membership in the view, exactly as the table stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewEntry {
    pub customer_id: CustomerId,
    pub membership_id: MembershipId,
    pub plan: Plan,
    pub status: ViewStatus,
}

/// What the memberships service said about one membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipFact {
    SignedUp(MembershipSignedUp),
    Canceled(MembershipCanceled),
}

impl MembershipFact {
    pub fn customer_id(&self) -> &CustomerId {
        match self {
            MembershipFact::SignedUp(e) => &e.customer_id,
            MembershipFact::Canceled(e) => &e.customer_id,
        }
    }

    pub fn membership_id(&self) -> MembershipId {
        match self {
            MembershipFact::SignedUp(e) => e.membership_id,
            MembershipFact::Canceled(e) => e.membership_id,
        }
    }
}

/// The entry `fact` leaves, if it changes the view: applied to the entry stored for the
/// same membership (`None` when there is none). A duplicate, a sign-up after its cancel,
/// and a cancel of a canceled membership change nothing.
pub fn apply(current: Option<&ViewEntry>, fact: &MembershipFact) -> Option<ViewEntry> {
    let (status, plan) = match fact {
        MembershipFact::SignedUp(e) => (ViewStatus::Active, e.plan),
        MembershipFact::Canceled(e) => (ViewStatus::Canceled, e.plan),
    };
    match (current.map(|c| c.status), status) {
        (None, _) | (Some(ViewStatus::Active), ViewStatus::Canceled) => Some(ViewEntry {
            customer_id: fact.customer_id().clone(),
            membership_id: fact.membership_id(),
            plan,
            status,
        }),
        (Some(ViewStatus::Active), ViewStatus::Active) | (Some(ViewStatus::Canceled), _) => None,
    }
}

/// The discount a customer with these entries gets now: the best rate among their active
/// memberships. The memberships service allows one active membership per customer, but
/// the view can briefly hold two (a new sign-up seen before the old one's cancel); the
/// customer then gets the better one, and of equal rates the later membership (ids are
/// UUID v7, so they order by time).
pub fn discount(entries: &[ViewEntry]) -> Option<MemberDiscount> {
    entries
        .iter()
        .filter(|e| e.status == ViewStatus::Active)
        .max_by_key(|e| (e.plan.discount(), e.membership_id))
        .map(|e| MemberDiscount {
            membership_id: e.membership_id,
            plan: e.plan,
            discount_basis_points: e.plan.discount(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_up(customer: &str, id: MembershipId, plan: Plan) -> MembershipFact {
        MembershipFact::SignedUp(MembershipSignedUp {
            membership_id: id,
            customer_id: customer.parse().unwrap(),
            email: "ada@example.com".parse().unwrap(),
            plan,
        })
    }

    fn canceled(customer: &str, id: MembershipId, plan: Plan) -> MembershipFact {
        MembershipFact::Canceled(MembershipCanceled {
            membership_id: id,
            customer_id: customer.parse().unwrap(),
            email: "ada@example.com".parse().unwrap(),
            plan,
            reason: "too dear".parse().unwrap(),
        })
    }

    /// The view after `facts` in this order: every entry, by membership id.
    fn replay(facts: &[&MembershipFact]) -> Vec<ViewEntry> {
        let mut view: Vec<ViewEntry> = Vec::new();
        for fact in facts {
            let i = view
                .iter()
                .position(|e| e.membership_id == fact.membership_id());
            if let Some(next) = apply(i.map(|i| &view[i]), fact) {
                match i {
                    Some(i) => view[i] = next,
                    None => view.push(next),
                }
            }
        }
        view.sort_by_key(|e| e.membership_id);
        view
    }

    /// Every ordering of `facts`, each fact possibly delivered twice.
    fn orderings<'a>(facts: &[&'a MembershipFact]) -> Vec<Vec<&'a MembershipFact>> {
        fn permute<'a>(
            rest: &mut Vec<&'a MembershipFact>,
            done: &mut Vec<&'a MembershipFact>,
            out: &mut Vec<Vec<&'a MembershipFact>>,
        ) {
            if rest.is_empty() {
                out.push(done.clone());
                return;
            }
            for i in 0..rest.len() {
                let f = rest.remove(i);
                done.push(f);
                permute(rest, done, out);
                done.pop();
                rest.insert(i, f);
            }
        }
        let doubled: Vec<_> = facts.iter().flat_map(|f| [*f, *f]).collect();
        let mut out = Vec::new();
        permute(&mut doubled.clone(), &mut Vec::new(), &mut out);
        // Also each fact exactly once, in every order.
        permute(&mut facts.to_vec(), &mut Vec::new(), &mut out);
        out
    }

    #[test]
    fn a_sign_up_makes_a_member_at_the_plans_rate() {
        let id = MembershipId::new();
        let view = replay(&[&signed_up("ada", id, Plan::Annual)]);
        assert_eq!(
            discount(&view),
            Some(MemberDiscount {
                membership_id: id,
                plan: Plan::Annual,
                discount_basis_points: Plan::Annual.discount(),
            })
        );
        assert_eq!(Plan::Annual.discount().get(), 1_000);
        assert_eq!(Plan::Monthly.discount().get(), 500);
    }

    #[test]
    fn sign_up_and_cancel_in_any_order_and_any_number_of_times_end_canceled() {
        let id = MembershipId::new();
        let up = signed_up("ada", id, Plan::Monthly);
        let down = canceled("ada", id, Plan::Monthly);
        for order in orderings(&[&up, &down]) {
            let view = replay(&order);
            assert_eq!(view.len(), 1, "{order:?}");
            assert_eq!(view[0].status, ViewStatus::Canceled, "{order:?}");
            assert_eq!(discount(&view), None, "{order:?}");
        }
    }

    #[test]
    fn a_customer_who_cancels_and_joins_again_is_a_member_again_whatever_the_order() {
        let first = MembershipId::new();
        let second = MembershipId::new();
        let facts = [
            signed_up("ada", first, Plan::Monthly),
            canceled("ada", first, Plan::Monthly),
            signed_up("ada", second, Plan::Annual),
        ];
        let refs: Vec<_> = facts.iter().collect();
        for order in orderings(&refs) {
            let view = replay(&order);
            assert_eq!(view.len(), 2, "{order:?}");
            let d = discount(&view).expect("a member again");
            assert_eq!(d.membership_id, second, "{order:?}");
            assert_eq!(d.plan, Plan::Annual);
        }
    }

    #[test]
    fn duplicates_change_nothing() {
        let id = MembershipId::new();
        let up = signed_up("ada", id, Plan::Monthly);
        let once = replay(&[&up]);
        assert_eq!(apply(once.first(), &up), None);
        let down = canceled("ada", id, Plan::Monthly);
        let after = replay(&[&up, &down]);
        assert_eq!(apply(after.first(), &down), None);
        assert_eq!(apply(after.first(), &up), None);
    }

    #[test]
    fn of_two_active_memberships_the_better_rate_wins_then_the_later() {
        let older = MembershipId::new();
        let newer = MembershipId::new();
        let view = replay(&[
            &signed_up("ada", older, Plan::Annual),
            &signed_up("ada", newer, Plan::Monthly),
        ]);
        assert_eq!(discount(&view).unwrap().membership_id, older);
        let view = replay(&[
            &signed_up("ada", older, Plan::Monthly),
            &signed_up("ada", newer, Plan::Monthly),
        ]);
        assert_eq!(discount(&view).unwrap().membership_id, newer);
        assert_eq!(discount(&[]), None);
    }
}
