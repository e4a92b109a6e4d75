-- Orleans ADO.NET providers (tempme silo / tempme worker on Orleans), part 1 of 4: the named-query table.
-- Each Orleans ADO.NET provider starts by reading every row of a table it names OrleansQuery (unquoted, so
-- orleansquery here) and runs the SQL text stored under fixed keys. The keys, the parameter names (@Name) and the
-- result column names are the providers' contract; the tables behind them are ours (snake_case, text columns).
-- Every script of this stream is idempotent: re-running one changes nothing, and query texts are upserted so a
-- later version can replace a query in place.
CREATE TABLE IF NOT EXISTS orleansquery (
    querykey   text PRIMARY KEY,
    querytext  text NOT NULL
);
