"""On-chain settlement (a later step): the vault contract, batch builder, chain client, worker."""
