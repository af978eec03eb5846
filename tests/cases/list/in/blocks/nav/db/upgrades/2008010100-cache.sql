-- phase: post
UPDATE config SET value = '' WHERE name = 'navcache';
