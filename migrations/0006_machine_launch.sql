ALTER TABLE "machines" ADD COLUMN "launch_id" uuid;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "launch_index" integer;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "launch_size" integer;--> statement-breakpoint
ALTER TABLE "machines" ADD CONSTRAINT "machines_launch_check" CHECK (num_nulls("machines"."launch_id", "machines"."launch_index", "machines"."launch_size") IN (0, 3) AND ("machines"."launch_index" IS NULL OR "machines"."launch_index" BETWEEN 0 AND "machines"."launch_size" - 1));