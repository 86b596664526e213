"""Operations between `pulumi up`s: rotate, rollback, promote, status, history."""
