"""Organisations' directories over SCIM 2.0 (RFC 7643/7644): ``/scim/v2/Users`` and ``/scim/v2/Groups``.

An organisation (school, company, ministry) provisions its people and groups with its own bearer token;
provisioned users link to messenger accounts by mobile phone number, appear as contacts of the
organisation's other members, and each SCIM group is a group chat with the linked members. Models and
wire format come from ``scim2-models``; docs/IDENTITY.md ("SCIM / organisations") describes the mapping.
"""
