"""Who is calling and what may they do: VIHF/SAML verification, Principal, access policy, audit."""
