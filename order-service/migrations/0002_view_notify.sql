-- Every change of a view notifies the long-polling instances (delivered at commit).
CREATE FUNCTION order_views_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('order_views', NEW.order_id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER order_views_notify AFTER INSERT OR UPDATE ON order_views
    FOR EACH ROW EXECUTE FUNCTION order_views_notify();
