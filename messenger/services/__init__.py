"""Data access and domain rules; routes call these (keyword-only arguments) and never bypass them."""
