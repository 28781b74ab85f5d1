//! Who is in the consortium and what each may do: the genesis document as signed ([`genesis`]),
//! membership changes as signed ([`governance`]), the consortium in force with its changes applied
//! ([`consortium`]), the C2M template and demo consortium ([`template`]), member key files
//! ([`keyfile`]).

pub mod consortium;
pub mod genesis;
pub mod governance;
pub mod keyfile;
pub mod template;
