"""Credit metering, off unless an operator grants credits to an account (`reverie credits grant`).

A billable write deducts inside the same transaction that stores its work, so a short balance rolls
everything back (0402, nothing stored) and two concurrent requests can never both spend the last credit:
the deduction is one conditional UPDATE, and SQLite and PostgreSQL both serialise it per row.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from ..errors import CreditsExhausted
from .accounts import Caller, account_id
from .db import Database, now_ms
from .schema import accounts, credit_grants


@dataclass(frozen=True)
class Balance:
    account: str
    balance: int | None  # None: not metered
    spent: int
    granted: int


def spend(conn: Connection, account: int, amount: int, what: str) -> None:
    """Deduct `amount` in the caller's transaction; raises CreditsExhausted when a metered balance is short."""
    if amount <= 0:
        return
    done = conn.execute(
        accounts.update()
        .where(accounts.c.id == account, accounts.c.credit_balance >= amount)
        .values(credit_balance=accounts.c.credit_balance - amount, credits_spent=accounts.c.credits_spent + amount)
    ).rowcount
    if done:
        return
    balance = conn.execute(select(accounts.c.credit_balance).where(accounts.c.id == account)).scalar()
    if balance is None:
        return  # not metered
    raise CreditsExhausted(
        f"credits: {what} costs {amount} credit{'s' if amount != 1 else ''} and the account has {balance}; "
        "nothing was done. Ask the operator to grant more (`reverie credits grant`)"
    )


def refund(conn: Connection, account: int, amount: int) -> None:
    """Give back what `spend` took for work that was undone; nothing for an account that is not metered."""
    if amount > 0:
        conn.execute(accounts.update().where(accounts.c.id == account, accounts.c.credit_balance.is_not(None))
                     .values(credit_balance=accounts.c.credit_balance + amount,
                             credits_spent=accounts.c.credits_spent - amount))


def charge(db: Database, who: Caller, amount: int, what: str) -> None:
    """For billable reads (search): unmetered accounts pay no write transaction."""
    if who.metered and amount > 0:
        with db.write() as conn:
            spend(conn, who.account_id, amount, what)


def grant(db: Database, account: str, amount: int, note: str | None = None) -> int:
    """Add credits (switching metering on for the account); returns the new balance."""
    with db.write() as conn:
        acc = account_id(conn, account)
        conn.execute(
            accounts.update()
            .where(accounts.c.id == acc)
            .values(credit_balance=func.coalesce(accounts.c.credit_balance, 0) + amount)
        )
        conn.execute(credit_grants.insert().values(account_id=acc, amount=amount, note=note, created_ms=now_ms()))
        return conn.execute(select(accounts.c.credit_balance).where(accounts.c.id == acc)).scalar()


def unmeter(db: Database, account: str) -> None:
    """Switch metering off: the account's calls are free again (its history of grants is kept)."""
    with db.write() as conn:
        acc = account_id(conn, account)
        conn.execute(accounts.update().where(accounts.c.id == acc).values(credit_balance=None))


def balances(db: Database, account: str | None = None) -> list[Balance]:
    granted = (
        select(credit_grants.c.account_id, func.sum(credit_grants.c.amount).label("granted"))
        .group_by(credit_grants.c.account_id)
        .subquery()
    )
    q = (
        select(accounts.c.name, accounts.c.credit_balance, accounts.c.credits_spent, granted.c.granted)
        .outerjoin(granted, granted.c.account_id == accounts.c.id)
        .order_by(accounts.c.name)
    )
    with db.read() as conn:
        if account is not None:
            account_id(conn, account)
            q = q.where(accounts.c.name == account)
        return [Balance(r.name, r.credit_balance, r.credits_spent, r.granted or 0) for r in conn.execute(q)]
