"""The Pulumi program that provisions each state's messenger stack."""
